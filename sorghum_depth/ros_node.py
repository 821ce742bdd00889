# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
ROS 2 node: the camera's left image in, disparity and metric depth out.

Thin glue: messages are converted with ``image_codec``, the model runs in
``DepthPipeline`` on a worker thread (the newest frame wins), and outputs are built by
``messages``. Topics and parameters are listed in the README. Started by
``sorghum_depth.depth_node.main`` (the console script), which imports this lazily.
"""

import os
import re
import signal
import sys
import threading
import time
import traceback

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
import rclpy
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float32
from stereo_msgs.msg import DisparityImage

from .geometry import choose_focal, FocalChoice
from .image_codec import image_to_rgb8, ImageDecodeError
from .inference import DeviceError, load_model, ModelLoadError
from .messages import (build_outputs, CAMERA_INFO, decode, encode, IMAGE, image8,
                       MessageDecodeError)
from .params import NodeParams, PARAMETERS, unknown_parameters, validate
from .pipeline import DepthPipeline, InferenceError
from .runtime import assess, LatestFrame, RateStats
from .selfcheck import photometric_error
from .translation import load_translation_model

NUMBER = re.compile(r'-?(nan|inf|[0-9][0-9.e+-]*)')
START_ERRORS = (DeviceError, ModelLoadError, ValueError, InvalidParameterTypeException,
                InvalidParameterValueException)

SENSOR_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.BEST_EFFORT)
OUTPUT_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.RELIABLE)


def _descriptor(spec) -> ParameterDescriptor:
    desc = ParameterDescriptor(description=spec.description, read_only=not spec.runtime)
    if spec.low is not None and isinstance(spec.default, int):
        desc.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high),
                                           step=1)]
    elif spec.low is not None:
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(spec.low), to_value=float(spec.high), step=0.0)]
    if spec.choices:
        desc.additional_constraints = 'one of: ' + ', '.join(spec.choices)
    desc.dynamic_typing = spec.also_bool
    return desc


class DepthNode(Node):
    """
    Publishes ``disparity``, ``depth`` and ``depth/camera_info`` for each ``image``.

    With ``translation_model_path`` also ``translated`` (mono8 or rgb8, same header).
    """

    def __init__(self, **kwargs):
        """Declare and validate parameters, load the model, start the worker (see ``start``)."""
        super().__init__('depth_node', **kwargs)
        for spec in PARAMETERS:
            self.declare_parameter(spec.name, spec.default, _descriptor(spec))
        for line in unknown_parameters(getattr(self, '_parameter_overrides', {})):
            self.get_logger().warning(line)
        self.params: NodeParams = validate(
            {s.name: self.get_parameter(s.name).value for s in PARAMETERS})
        p = self.params
        # torch (imported by load_model for a model.ts) reads this once: its OpenMP threads
        # then sleep between parallel regions instead of spinning, which on 2 loaded cores
        # made the forward 4x slower (measured 526-654 against 115-147 ms at 640x480)
        os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
        model = load_model(p.model_path, p.device, p.fp16, p.cpu_threads, check=False)
        self.translator = None if not p.translation_model_path else load_translation_model(
            p.translation_model_path, p.device, p.cpu_threads, check=False)
        self.pipeline = DepthPipeline(model, p.post_process)
        self.get_logger().info(f'loaded {p.model_path} on {model.device} '
                               f"(trained at {model.metadata['input_width']}x"
                               f"{model.metadata['input_height']}, fp16={model.fp16})")
        if self.translator is not None:
            meta = self.translator.metadata
            self.get_logger().info(f'loaded translation model {p.translation_model_path} '
                                   f"({meta.get('translate_task') or 'translate'}, "
                                   f"{meta['input_transform']} in, {meta['output_encoding']} "
                                   f'out) on {self.translator.device}')
        self.stats, self.mailbox = RateStats(), LatestFrame()
        self.camera_info = None                 # rosbags CameraInfo, newest
        self.right_frames = {}                  # (sec, nanosec) -> rosbags Image
        self._warned: dict[str, float] = {}
        self._diag_before: dict = {}
        self._running, self._warm, self._warm_error = True, threading.Event(), None
        self._worker = threading.Thread(target=self._work, name='depth_worker', daemon=True)
        self._worker.start()

    def start(self) -> None:
        """
        Wait for the model's check and warm-up, then subscribe (the first frames are on time).

        :raises ModelLoadError: the model cannot run (``DepthModel.check``).
        """
        self._warm.wait()
        if self._warm_error is not None:
            raise self._warm_error
        self._create_topics()
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _create_topics(self) -> None:
        self.pub_disparity = self.create_publisher(DisparityImage, 'disparity', OUTPUT_QOS)
        self.pub_depth = self.create_publisher(Image, 'depth', OUTPUT_QOS)
        self.pub_info = self.create_publisher(CameraInfo, 'depth/camera_info', OUTPUT_QOS)
        self.pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.pub_translated = None
        if self.translator is not None:
            self.pub_translated = self.create_publisher(Image, 'translated', OUTPUT_QOS)
        # raw: CDR bytes in, converted by .messages off the executor thread (see there)
        self.create_subscription(Image, 'image', self._on_image, SENSOR_QOS, raw=True)
        self.create_subscription(CameraInfo, 'camera_info', self._on_info, SENSOR_QOS, raw=True)
        self.pub_photo = None
        if self.params.right_check:
            self.pub_photo = self.create_publisher(Float32, 'photometric_error', OUTPUT_QOS)
            self.create_subscription(Image, 'right/image', self._on_right, SENSOR_QOS,
                                     raw=True)
        self.create_timer(self.params.diagnostics_period_s, self._publish_diagnostics)

    def _warn(self, text: str, period_s: float = 5.0, key: str | None = None) -> None:
        """Log ``text`` as a warning at most once per ``period_s`` for each ``key`` (text)."""
        now, key = time.monotonic(), text if key is None else key
        if now - self._warned.get(key, -period_s) >= period_s:
            # forget keys not seen for a period: distinct texts must not pile up
            self._warned = {t: w for t, w in self._warned.items() if now - w < period_s}
            self._warned[key] = now
            self.get_logger().warning(text)

    def _on_image(self, raw: bytes) -> None:
        self.stats.received += 1
        self.mailbox.put((time.perf_counter(), raw))     # arrival: the stage timings start

    def _on_info(self, raw: bytes) -> None:
        try:
            self.camera_info = decode(raw, CAMERA_INFO)
        except MessageDecodeError as err:
            self._warn(f'bad camera_info: {err}')

    def _on_right(self, raw: bytes) -> None:
        try:
            msg = decode(raw, IMAGE)
        except MessageDecodeError as err:
            self._warn(f'bad right image: {err}')
            return
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        self.right_frames[stamp] = msg
        while len(self.right_frames) > 10:
            self.right_frames.pop(next(iter(self.right_frames)))

    def _on_set_parameters(self, changes) -> SetParametersResult:
        values = {s.name: self.get_parameter(s.name).value for s in PARAMETERS}
        values.update({c.name: c.value for c in changes})
        try:
            self.params = validate(values)
        except ValueError as err:
            return SetParametersResult(successful=False, reason=str(err))
        return SetParametersResult(successful=True)

    def _warm_up(self) -> bool:
        # On the worker thread itself: warmed up on another thread, torch's CPU thread
        # pool then ran every forward ~1.7x slower (measured 46 against 27 ms).
        try:
            seconds = self.pipeline.model.warm_up()
            if self.translator is not None:
                seconds += self.translator.warm_up()
        except ModelLoadError as err:
            self._warm_error = err
            return False
        except Exception as err:        # e.g. CUDA out of memory on the warm-up frame
            self._warm_error = ModelLoadError(f'{self.params.model_path}: the warm-up failed '
                                              f'({type(err).__name__}: {err})')
            return False
        finally:
            self._warm.set()
        if self._running and self.context.ok():
            self.get_logger().info(f'checked and warmed up in {seconds:.2f} s')
        return self._running

    def _work(self) -> None:
        if not self._warm_up():
            return
        while self._running:
            item = self.mailbox.take(timeout_s=0.1)
            if item is None:
                continue
            try:
                self._process(item)
            except Exception:   # the worker must outlive any single frame
                if not self.context.ok():
                    break           # shutting down: publishers are gone
                self.stats.errors += 1
                self.get_logger().error('frame failed:\n' + traceback.format_exc(),
                                        throttle_duration_sec=5.0)

    def _focal(self, width_px: int) -> FocalChoice:
        """Choose the frame's focal length (``geometry.choose_focal``); warn when bad."""
        model_fx_px = self.pipeline.model.geometry(width_px)[0]
        choice = choose_focal(width_px, model_fx_px, self.params.fx_px, self.camera_info)
        if choice.warning:
            # one key per kind of problem: a camera sending varying garbage is throttled too
            self._warn(choice.warning, key=NUMBER.sub('#', choice.warning))
        return choice

    def _process(self, item: tuple[float, bytes]) -> None:
        arrived_s, raw = item
        p, taken_s = self.params, time.perf_counter()
        try:
            msg = decode(raw, IMAGE)
            rgb = image_to_rgb8(msg)
            decoded_s = time.perf_counter()
            focal = self._focal(rgb.shape[1])
            result = self.pipeline.run(rgb, focal.fx_px, p.baseline_m,
                                       p.min_depth_m, p.max_depth_m)
        except (MessageDecodeError, ImageDecodeError) as err:
            self.stats.bad_input += 1
            self._warn(f'bad image on {self.resolve_topic_name("image")}: {err}')
            return
        except InferenceError as err:
            self.stats.errors += 1
            self.get_logger().error(str(err), throttle_duration_sec=5.0)
            return
        ran_s = time.perf_counter()
        # lazy: a topic nobody reads is neither computed, serialised (0.3 ms per MB) nor
        # published; the translation forward counts as forward time
        translated = self._translate(rgb)
        translated_s = time.perf_counter()
        outputs = build_outputs(msg.header, result, p.depth_encoding, self.camera_info,
                                focal.info_from)
        wanted = [(pub, encode(out)) for pub, out in
                  zip((self.pub_disparity, self.pub_depth, self.pub_info), outputs)
                  if pub.get_subscription_count() > 0]
        if translated is not None:
            wanted.append((self.pub_translated, encode(image8(msg.header, translated))))
        encoded_s = time.perf_counter()
        for pub, cdr in wanted:
            pub.publish(cdr)
        done_s = time.perf_counter()
        stamp_ns = msg.header.stamp.sec * 10 ** 9 + msg.header.stamp.nanosec
        forward_s = result.forward_s + translated_s - ran_s
        stages = {'queue': taken_s - arrived_s, 'decode': decoded_s - taken_s,
                  'geometry': ran_s - decoded_s - result.forward_s,
                  'encode': encoded_s - translated_s, 'publish': done_s - encoded_s,
                  'own_work': done_s - arrived_s - forward_s}
        self.stats.output((self.get_clock().now().nanoseconds - stamp_ns) * 1e-9,
                          forward_s, empty=result.valid_px == 0, stages=stages)
        if self.pub_photo is not None:
            self._self_check(msg, rgb, result.disp_px)

    def _translate(self, rgb):
        """Return the frame's translation (uint8), or None: no model, or nobody listens."""
        if self.pub_translated is None or self.pub_translated.get_subscription_count() == 0:
            return None
        return self.translator.translate(rgb)

    def _self_check(self, msg, rgb, disp_px) -> None:
        right = self.right_frames.get((msg.header.stamp.sec, msg.header.stamp.nanosec))
        if right is None:
            return
        if (right.width, right.height) != (msg.width, msg.height):
            self._warn(f'right image is {right.width}x{right.height}, the left '
                       f'{msg.width}x{msg.height}: no photometric error for such pairs')
            return
        try:
            error = photometric_error(rgb, image_to_rgb8(right), disp_px)
        except ImageDecodeError as err:
            self._warn(f'bad right image: {err}')
            return
        self.pub_photo.publish(Float32(data=error))

    def _publish_diagnostics(self) -> None:
        s = self.stats.summary()
        s['dropped'] = self.mailbox.dropped
        level, message = assess(self._diag_before, s)
        self._diag_before = s
        status = DiagnosticStatus(
            level=bytes([level]), name=f'{self.get_fully_qualified_name()}: depth',
            message=message, hardware_id=str(self.pipeline.model.device),
            values=[KeyValue(key=k, value=f'{v:.3f}' if isinstance(v, float) else str(v))
                    for k, v in s.items()] + [KeyValue(key='device', value=str(
                        self.pipeline.model.device))])
        array_msg = DiagnosticArray(status=[status])
        array_msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(array_msg)

    def shutdown(self) -> None:
        """Stop the worker thread (it finishes the frame or warm-up it is running)."""
        self._running = False
        self.mailbox.close()
        self._worker.join(timeout=30.0)


def _start_error(err: Exception) -> str:
    """Return the one-line reason for a failed start."""
    text = str(err).strip()
    if isinstance(err, rclpy_implementation.RCLError):   # e.g. a params file that is not YAML
        return 'bad ROS arguments or params file: ' + text.split(', at /')[0].removeprefix(
            'failed to initialize rcl: ')
    return text.replace('\n', '; ')


def run(args=None) -> int:
    """Run the node until Ctrl-C; return 2 when the arguments, parameters or model are bad."""
    node, code, initialised = None, 0, False
    try:
        rclpy.init(args=args)
        initialised = True
        node = DepthNode()
        node.start()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except START_ERRORS + (rclpy_implementation.RCLError,) as err:
        # Ctrl-C while the node is being built (the model loading: torch is imported
        # lazily there) shuts the context down; the next rcl call then fails
        interrupted = initialised and not rclpy.ok()
        if not (isinstance(err, rclpy_implementation.RCLError) and interrupted):
            print(f'error: cannot start depth_node: {_start_error(err)}', file=sys.stderr,
                  flush=True)
            code = 2
    finally:
        # a second Ctrl-C must not cut the shutdown short: the worker may be in a forward
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if node is not None:
            node.shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return code
