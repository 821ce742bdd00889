# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Offline depth inference on a recorded bag: a new MCAP bag with the outputs added.

``sorghum-depth-infer-bag IN OUT --model model.ts`` reads IN (rosbag2 sqlite3/MCAP or a
ROS 1 ``.bag``) and writes OUT, a NEW rosbag2 MCAP bag holding every message of IN (raw
bytes, same topic, type and bag timestamp; ROS 1 messages are converted to CDR) plus,
for each image on the chosen topic, ``PREFIX/disparity`` (stereo_msgs/DisparityImage),
``PREFIX/depth`` (sensor_msgs/Image) and ``PREFIX/depth/camera_info``, all with the
image's header and bag timestamp (DESIGN.md, "Node topics"). With
``--translation-model`` (an exported translation model, ``sorghum_depth.translation``)
each frame also gives ``PREFIX/translated`` (sensor_msgs/Image, mono8 or rgb8).

- Topic: ``--topic``, else the first image topic (Image or CompressedImage, by name)
  containing ``left``, else the first image topic; depth/disparity topics are ignored.
- PREFIX: ``--prefix``, else the image topic's namespace + ``/depth_net``
  (``/stereo/left/image_raw`` -> ``/stereo/left/depth_net``).
- fx: the rectified P[0] of the camera_info sibling of the image topic (latest one
  logged at or before the image, else the first; scaled when its width differs), K[0]
  when P is empty or invalid; without a sibling, a CameraInfo with the image's frame_id;
  else the model's ``fx_over_width`` x width. A NaN, infinite, non-positive or absurd fx
  (outside [1e-3, 1e3] x width) is never used: the next source is, and the summary
  counts the frames (``sorghum_depth.geometry.choose_focal``, as the node does).
- Post-processing: as exported (the model's metadata) unless ``--post-process`` or
  ``--no-post-process`` is given.
- ``--max-frames N``: stops after the N-th image of the topic (processed or skipped);
  OUT is then the clip of IN up to that image: every message logged at or before it.
- OUT is written in a temporary folder next to it and renamed when complete. Exit 2
  with ``error: ...`` on bad input (arguments, bag, model, device, output path); an
  undecodable image is skipped and counted.
"""

import argparse
from collections import Counter
from dataclasses import dataclass, field
import math
import os
from pathlib import Path
import re
import shutil
import sys
import tempfile
import time

from rosbags.convert.converter import create_connections_converters, is_same_wireformat
from rosbags.highlevel import AnyReaderError
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.errors import WriterError
from sorghum_depth.geometry import choose_focal
from sorghum_depth.image_codec import DEPTH_ENCODINGS
from sorghum_depth.inference import DeviceError, load_model, ModelLoadError
from sorghum_depth.messages import build_outputs, image8, TYPESTORE
from sorghum_depth.pipeline import DepthPipeline
from sorghum_depth.translation import load_translation_model, TranslationModel
from tqdm import tqdm

from .bag_read import (CameraInfoTrack, choose_image_topic, decode_rgb, INFO_TYPE, open_bag,
                       raw_messages, ros2_camera_info)
from .bag_salvage import mcap_file, salvage_mcap
from .errors import DatasetError

PREFIX_SUFFIX = '/depth_net'
BAG_VERSION = 9
OUTPUTS = (('disparity', 'stereo_msgs/msg/DisparityImage'),
           ('depth', 'sensor_msgs/msg/Image'),
           ('depth/camera_info', INFO_TYPE))
TRANSLATED = ('translated', 'sensor_msgs/msg/Image')


@dataclass
class Options:
    """What to infer and how (see build_parser for the meaning of each)."""

    topic: str | None = None
    prefix: str | None = None
    depth_encoding: str = '32FC1'
    min_depth_m: float = 0.3
    max_depth_m: float = 40.0
    baseline_m: float = 0.0
    max_frames: int | None = None
    progress: bool = True
    translator: TranslationModel | None = None


@dataclass
class Summary:
    """What a run did: frames seen/processed, skip reasons, messages copied, times."""

    topic: str = ''
    prefix: str = ''
    fx_source: str = ''
    seen: int = 0
    processed: int = 0
    outputs: list = field(default_factory=list)
    copied: int = 0
    skipped: Counter = field(default_factory=Counter)
    fx_warnings: Counter = field(default_factory=Counter)
    forward_s: float = 0.0
    wall_s: float = 0.0


def default_prefix(image_topic: str) -> str:
    """Return the image topic's namespace + ``/depth_net``."""
    base = image_topic.removesuffix('/compressed')
    return base.rsplit('/', 1)[0] + PREFIX_SUFFIX


class BagInference:
    """One run: copies IN into an open Writer and adds the outputs of each frame."""

    def __init__(self, reader, bag: Path, writer: Writer, pipeline: DepthPipeline,
                 opts: Options):
        """Choose the topic, read its camera_info and add every connection to ``writer``."""
        self.reader, self.bag, self.writer = reader, bag, writer
        self.pipeline, self.opts = pipeline, opts
        self.ts = TYPESTORE               # the node's message definitions (ROS 2 Kilted)
        topic = choose_image_topic(reader, bag, opts.topic)
        prefix = ('/' + (opts.prefix or default_prefix(topic)).strip('/')).rstrip('/')
        self.summary = Summary(topic=topic, prefix=prefix)
        existing = {c.topic for c in reader.connections}
        outputs = OUTPUTS + ((TRANSLATED,) if opts.translator is not None else ())
        self.summary.outputs = [name for name, _ in outputs]
        names = [prefix + '/' + name for name, _ in outputs]
        if existing.intersection(names):
            raise DatasetError(f'{bag}: output topic {sorted(existing.intersection(names))[0]} '
                               'is already in the bag; choose another --prefix')
        self.infos = CameraInfoTrack(reader, bag, topic)
        print(f'image topic {topic} (camera_info: {self.infos.sibling or "by frame_id"}) '
              f'-> {prefix}/{{{",".join(self.summary.outputs)}}}', flush=True)
        # ROS 2: raw copy with the bag's definitions; ROS 1: converted to ROS 2 types
        self.copy_ts = None if reader.is2 else TYPESTORE
        self.connmap, self.convmap = create_connections_converters(
            reader.connections, self.copy_ts, reader, writer)
        self.out_conns = [self._output_connection(n, t) for n, (_, t) in zip(names, outputs)]

    def _output_connection(self, topic: str, msgtype: str):
        """Add an output topic; a type already copied keeps its definition (one per type)."""
        copied = next((c for c in self.writer.connections if c.msgtype == msgtype), None)
        if copied is None:
            return self.writer.add_connection(topic, msgtype, typestore=self.ts)
        src_ts = self.copy_ts or self.reader.typestore
        if not is_same_wireformat(src_ts, self.ts, msgtype, msgtype):
            raise DatasetError(f'{self.bag}: the definition of {msgtype} in the bag differs '
                               'from ROS 2 Kilted; cannot add outputs of that type beside it')
        return self.writer.add_connection(topic, msgtype, msgdef=copied.msgdef.data,
                                          rihs01=copied.digest)

    def frame(self, conn, t_ns: int, raw: bytes) -> None:
        """Infer one image message and write its three outputs at ``t_ns``."""
        s, o = self.summary, self.opts
        s.seen += 1
        try:
            msg = self.reader.deserialize(raw, conn.msgtype)
            rgb = decode_rgb(msg)
        except Exception as e:  # one bad message is skipped, whatever the decoder raised
            s.skipped[f'undecodable image ({type(e).__name__}: {e})'] += 1
            return
        info, info_topic = self.infos.at(msg.header.frame_id, t_ns)
        info = ros2_camera_info(self.ts, info)
        width = rgb.shape[1]
        focal = choose_focal(width, self.pipeline.model.geometry(width)[0], 0.0, info,
                             scale_other_width=True)
        if focal.warning:
            s.fx_warnings[f'{info_topic}: {focal.warning}'] += 1
        try:
            result = self.pipeline.run(rgb, focal.fx_px, o.baseline_m, o.min_depth_m,
                                       o.max_depth_m)
        except (RuntimeError, ValueError) as e:
            s.skipped[f'inference failed ({type(e).__name__}: {e})'] += 1
            return
        if not s.fx_source:
            where = f'{info_topic} ' if focal.source.startswith('camera_info') else ''
            s.fx_source = f'{where}{focal.source} ({result.fx_px:.3f} px)'
        outs = build_outputs(msg.header, result, o.depth_encoding, info, focal.info_from)
        if o.translator is not None:
            try:
                outs += (image8(msg.header, o.translator.translate(rgb)),)
            except (RuntimeError, ValueError) as e:
                s.skipped[f'translation failed ({type(e).__name__}: {e})'] += 1
                return
        for out_conn, out_msg in zip(self.out_conns, outs):
            self.writer.write(out_conn, t_ns, self.ts.serialize_cdr(out_msg, out_conn.msgtype))
        s.processed += 1
        s.forward_s += result.forward_s

    def run(self) -> Summary:
        """Copy every message (up to the --max-frames window) and infer each frame."""
        s, limit = self.summary, self.opts.max_frames
        total = sum(c.msgcount for c in self.reader.connections if c.topic == s.topic)
        bar = tqdm(total=min(total, limit or total), unit='frame', file=sys.stderr,
                   disable=not self.opts.progress, desc=s.topic)
        start, cutoff = time.perf_counter(), None
        try:
            for conn, t_ns, raw in raw_messages(self.reader, self.bag):
                if cutoff is not None and t_ns > cutoff:
                    break
                self.writer.write(self.connmap[(conn.id, conn.owner)], t_ns,
                                  self.convmap[conn.msgtype](raw))
                s.copied += 1
                if conn.topic == s.topic:
                    self.frame(conn, t_ns, raw)
                    bar.update(1)
                    bar.set_postfix(skipped=sum(s.skipped.values()), refresh=False)
                    cutoff = t_ns if limit and s.seen >= limit else None
        finally:
            bar.close()
        s.wall_s = time.perf_counter() - start
        if s.processed == 0:
            why = '; '.join(s.skipped) if s.seen else 'the topic has no messages'
            raise DatasetError(f'{self.bag}: no frame of topic {s.topic} processed: {why}')
        return s


def _check_paths(in_path: Path, out_path: Path, overwrite: bool) -> None:
    if not in_path.exists():
        raise DatasetError(f'{in_path}: bag not found')
    ancestor = next((p for p in out_path.absolute().parents if p.exists()), None)
    if ancestor is None:
        raise DatasetError(f'{out_path}: not a valid output folder')
    if not ancestor.is_dir():
        raise DatasetError(f'{out_path}: cannot be created, {ancestor} is a file, not a folder')
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise DatasetError(f'{out_path}: cannot be created, {ancestor} is not writable')
    if out_path.resolve() == in_path.resolve() or in_path.resolve() in \
            out_path.resolve().parents:
        raise DatasetError(f'{out_path}: output would overwrite the input bag {in_path}')
    if (out_path.exists() or out_path.is_symlink()) and not overwrite:
        raise DatasetError(f'{out_path}: output already exists (use --overwrite to replace it)')


def _open_or_salvage(bag: Path, scratch: Path):
    """Open ``bag``; an MCAP cut short is salvaged into ``scratch``, with a warning."""
    try:
        return open_bag(bag)
    except AnyReaderError as e:
        raise DatasetError(f'{bag}: not a bag ({e})') from e
    except DatasetError as err:
        mcap = mcap_file(bag)
        if mcap is None or salvage_mcap(mcap, scratch) == 0:
            raise
        print(f'warning: {mcap}: cut short or damaged ({err.__cause__}); inferring the '
              'complete messages before the damage', file=sys.stderr, flush=True)
        return open_bag(scratch)


def _remove_unfinished(out_path: Path) -> None:
    """Remove the temporary folders of earlier runs to ``out_path`` that were killed."""
    stale = [p for p in out_path.parent.glob(f'.{out_path.name}.*.partial') if p.is_dir()]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    if stale:
        print(f'removed {len(stale)} unfinished output of an earlier run '
              f'({", ".join(p.name for p in stale)})', flush=True)


def infer_bag(in_path: Path, out_path: Path, pipeline: DepthPipeline, opts: Options,
              overwrite: bool = False) -> Summary:
    """
    Write ``out_path``: the messages of ``in_path`` plus the depth outputs (module doc).

    The bag is written under a temporary folder next to ``out_path`` and moved there only
    when complete, so a failed run leaves nothing at ``out_path``.

    :param in_path: input bag.
    :param out_path: new rosbag2 MCAP bag folder.
    :param pipeline: the loaded model with its post-processing choice.
    :param opts: topic, prefix, encoding, limits.
    :param overwrite: replace an existing ``out_path``.
    :returns: the run's Summary.
    :raises DatasetError: bad input (the message names the file or topic).
    """
    in_path, out_path = Path(in_path), Path(out_path)
    _check_paths(in_path, out_path, overwrite)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _remove_unfinished(out_path)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f'.{out_path.name}.', suffix='.partial',
                                    dir=out_path.parent))
    try:
        reader = _open_or_salvage(in_path, tmp_dir / 'salvaged')
        try:
            with Writer(tmp_dir / out_path.name, version=BAG_VERSION,
                        storage_plugin=StoragePlugin.MCAP) as writer:
                summary = BagInference(reader, in_path, writer, pipeline, opts).run()
        finally:
            reader.close()
        if out_path.is_dir() and not out_path.is_symlink():
            shutil.rmtree(out_path)
        elif out_path.exists() or out_path.is_symlink():
            out_path.unlink()
        os.replace(tmp_dir / out_path.name, out_path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return summary


def format_summary(s: Summary, out_path: Path) -> str:
    """Return the human summary printed at the end of a run."""
    fps = s.processed / s.wall_s if s.wall_s > 0 else float('nan')
    lines = [
        f'wrote {out_path}: {s.copied} messages copied, {len(s.outputs) * s.processed} added '
        f'on {s.prefix}/{{{",".join(s.outputs)}}}',
        f'topic {s.topic}: {s.processed} frames processed in {s.wall_s:.2f} s = {fps:.2f} '
        f'frames/s end to end (model forward {1e3 * s.forward_s / s.processed:.1f} ms/frame)',
        f'fx from {s.fx_source}']
    lines += [f'warning: {n} frames: {text}' for text, n in s.fx_warnings.most_common()]
    lines += [f'skipped {sum(s.skipped.values())} of {s.seen} frames' +
              (':' if s.skipped else '')]
    lines += [f'  {n} x {reason}' for reason, n in s.skipped.most_common()]
    return '\n'.join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface of sorghum-depth-infer-bag."""
    p = argparse.ArgumentParser(prog='sorghum-depth-infer-bag', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('bag_in', type=Path, metavar='IN', help='input bag (rosbag2 or ROS 1)')
    p.add_argument('bag_out', type=Path, metavar='OUT', help='new rosbag2 MCAP bag folder')
    p.add_argument('--model', type=Path, required=True, help='exported model.ts')
    p.add_argument('--translation-model', type=Path, default=None, metavar='PATH',
                   help='exported translation model (.ts or .onnx): also write '
                   'PREFIX/translated (mono8 or rgb8) for each frame')
    p.add_argument('--device', default='auto', help="'auto' (default), 'cpu', 'cuda', ...")
    p.add_argument('--post-process', action=argparse.BooleanOptionalAction, default=None,
                   help='flip post-processing on or off (default: as exported, the '
                   "model's metadata)")
    p.add_argument('--topic', default=None, help='image topic (default: automatic)')
    p.add_argument('--prefix', default=None,
                   help=f'output namespace (default: image namespace + {PREFIX_SUFFIX})')
    p.add_argument('--depth-encoding', choices=DEPTH_ENCODINGS, default='32FC1',
                   help='32FC1 metres, NaN invalid (default) or 16UC1 mm, 0 invalid')
    p.add_argument('--min-depth', type=float, default=0.3, help='m, nearer is invalid')
    p.add_argument('--max-depth', type=float, default=40.0, help='m, farther is invalid')
    p.add_argument('--baseline', type=float, default=0.0,
                   help="baseline in m (default 0: the training rig's, from the model)")
    p.add_argument('--max-frames', type=int, default=None,
                   help='stop after N images of the topic; OUT is the clip up to the Nth')
    p.add_argument('--threads', type=int, default=0,
                   help='CPU threads of the model runtime, torch or ONNX Runtime (default 0: '
                   'one per core); 1 is far faster on a CPU shared with other busy processes')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument('--overwrite', action='store_true', help='replace an existing OUT')
    return p


def _check_args(args) -> None:
    """Raise DatasetError naming every bad number or name among the arguments."""
    problems = []
    if not 0 < args.min_depth < args.max_depth:
        problems.append('need 0 < --min-depth < --max-depth')
    if not (math.isfinite(args.baseline) and args.baseline >= 0):
        problems.append('need a finite --baseline >= 0')
    if args.threads < 0 or (args.max_frames is not None and args.max_frames < 1):
        problems.append('need --threads >= 0 and --max-frames >= 1')
    if args.prefix and not re.fullmatch(r'/?[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*',
                                        args.prefix):
        problems.append(f'--prefix {args.prefix!r} is not a ROS namespace (letters, digits '
                        'and _, separated by /)')
    if problems:
        raise DatasetError('; '.join(problems))


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 on bad input, message on stderr)."""
    args = build_parser().parse_args(argv)
    opts = Options(args.topic, args.prefix, args.depth_encoding, args.min_depth,
                   args.max_depth, args.baseline, args.max_frames, not args.no_progress)
    try:
        _check_args(args)
        _check_paths(args.bag_in, args.bag_out, args.overwrite)
        model = load_model(args.model, args.device, cpu_threads=args.threads)
        if args.translation_model is not None:
            opts.translator = load_translation_model(args.translation_model, args.device,
                                                     args.threads)
        summary = infer_bag(args.bag_in, args.bag_out,
                            DepthPipeline(model, args.post_process), opts, args.overwrite)
    except (DatasetError, ModelLoadError, DeviceError, WriterError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'interrupted: {args.bag_out} not written', file=sys.stderr)
        return 130
    print(f'model {args.model} on {model.device}')
    print(format_summary(summary, args.bag_out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
