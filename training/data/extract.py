# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Extract rectified stereo pairs from recorded bags into a dataset folder.

sorghum-depth-extract BAG [BAG ...] -o OUT reads rosbag2 (sqlite3 or MCAP) and ROS 1
bags. Left/right image topics (Image or CompressedImage) and their camera_info siblings
are found automatically (or given), paired by header stamp, decoded, rectified from
CameraInfo (K, D, R, P) unless already rectified, optionally resized, and written as
left/NNNNNN.png, right/NNNNNN.png, calibration.yaml (fx, fy, cx, cy, baseline_m from the
right P, source bag and topics) and splits/{train,val}.txt. The dataset is written to a
temporary folder beside OUT and renamed at the end, so a failed run leaves nothing.
"""

import argparse
from dataclasses import dataclass, field
from pathlib import Path
import sys
import tempfile
from types import SimpleNamespace

import cv2
from sorghum_depth.bag_read import choose_topics, index_bag, iterate, open_bag, pair_stamps
from sorghum_depth.bag_read import stamp_ns, StereoTopics
from sorghum_depth.bag_salvage import mcap_file, salvage_mcap
from tqdm import tqdm

from .bag_io import camera_info
from .dataset_dir import check_selection, DatasetError, DatasetWriter
from .rectify import check_encoding, decode_image, Rectifier
from ..cli_types import non_negative, positive, seconds, size_wxh


@dataclass
class ExtractOptions:
    """
    Selection and output options (see build_parser for the meaning of each).

    :ivar tolerance_s: largest left/right header stamp difference for a pair, s.
    :ivar stride: keep every stride-th matched pair.
    :ivar start_s: skip pairs earlier than this many seconds after the first image.
    :ivar end_s: skip pairs later than this (None: no limit).
    :ivar max_pairs: stop after this many pairs in total (None: all).
    :ivar size: (width, height) output size in px, or None to keep the rectified size.
    :ivar topics: dict of left, right, left_info, right_info topic overrides.
    :ivar fx, baseline_m: calibration for rectified topics without camera_info.
    """

    tolerance_s: float = 0.005
    stride: int = 1
    start_s: float = 0.0
    end_s: float | None = None
    max_pairs: int | None = None
    size: tuple[int, int] | None = None
    topics: dict = field(default_factory=dict)
    fx: float | None = None
    baseline_m: float | None = None


@dataclass
class Summary:
    """Counts for the closing report: pairs written and pairs dropped, by reason."""

    written: int = 0
    dropped: dict = field(default_factory=lambda: dict.fromkeys(
        ('unmatched left', 'unmatched right', 'outside time window', 'stride',
         'over --max-pairs', 'undecodable', 'unreadable message'), 0))

    def text(self) -> str:
        """One-line human summary."""
        drops = ', '.join(f'{n} {why}' for why, n in self.dropped.items())
        return f'pairs written: {self.written}; dropped: {drops}'


def select_pairs(pairs: list, t0_ns: int, opts: ExtractOptions, budget: int | None,
                 summary: Summary) -> list:
    """
    Apply time window, stride and the remaining pair budget to stamp pairs.

    :param pairs: (left ns, right ns) pairs sorted by time.
    :param t0_ns: stamp of the first image of the bag (the time window origin).
    :param opts: options.
    :param budget: pairs still allowed by --max-pairs, or None.
    :param summary: drop counters to update.
    :return: the kept pairs.
    """
    end_ns = None if opts.end_s is None else t0_ns + int(opts.end_s * 1e9)
    inside = [p for p in pairs if p[0] >= t0_ns + int(opts.start_s * 1e9)
              and (end_ns is None or p[0] <= end_ns)]
    summary.dropped['outside time window'] += len(pairs) - len(inside)
    strided = inside[::opts.stride]
    summary.dropped['stride'] += len(inside) - len(strided)
    kept = strided if budget is None else strided[:max(budget, 0)]
    summary.dropped['over --max-pairs'] += len(strided) - len(kept)
    return kept


def _rectifier(bag: Path, topics: StereoTopics, index, opts: ExtractOptions) -> Rectifier:
    """Rectifier from the bag's camera_info, or from --fx/--baseline for rect topics."""
    names = {'left': topics.left, 'right': topics.right}
    if index.infos['left'] is not None and index.infos['right'] is not None:
        return Rectifier(index.infos, names)
    missing = [t for t, i in ((topics.left, topics.left_info), (topics.right, topics.right_info))
               if i is None] or [topics.left, topics.right]
    rect = 'rect' in topics.left and 'rect' in topics.right
    if not (rect and opts.fx and opts.baseline_m):
        raise DatasetError(f'{bag}: missing camera_info for image topic(s) {missing}: raw '
                           'images need CameraInfo to be rectified (give --left-info/'
                           '--right-info; for *rect* topics --fx and --baseline also work)')
    _, w, h = index.layout['left']
    if w is None:
        raise DatasetError(f'{bag}: --fx/--baseline need uncompressed {topics.left}')
    infos = {s: SimpleNamespace(**camera_info(w, h, opts.fx, opts.fx, (w - 1) / 2, (h - 1) / 2,
                                              opts.baseline_m if s == 'right' else 0.0))
             for s in ('left', 'right')}
    return Rectifier(infos, names)


def _check_layout(bag: Path, topics: StereoTopics, index) -> None:
    (enc_l, w_l, h_l), (enc_r, w_r, h_r) = index.layout['left'], index.layout['right']
    check_encoding(enc_l, topics.left)
    check_encoding(enc_r, topics.right)
    if (w_l, h_l) != (w_r, h_r):
        raise DatasetError(f'{bag}: left/right size mismatch: {topics.left} is {w_l}x{h_l}, '
                           f'{topics.right} is {w_r}x{h_r}')


def _finish_image(rect: Rectifier, side: str, msg, topic: str, size) -> object:
    image = rect.apply(side, decode_image(msg, topic))
    if size is not None and image.shape[1::-1] != tuple(size):
        image = cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA)
    return image


def extract_bag(bag: Path, writer: DatasetWriter, opts: ExtractOptions, summary: Summary,
                log=print, rig=None):
    """
    Append the selected, rectified pairs of one bag to ``writer``.

    :param bag: bag path.
    :param writer: open DatasetWriter.
    :param opts: options.
    :param summary: counters to update.
    :param log: where to print what was chosen.
    :param rig: Calibration the pairs must share (earlier bags'), checked before any
        pair is read; None for the first bag.
    :return: (Calibration of the written pairs, StereoTopics, whether rectified here).
    :raises DatasetError: any bad input, naming the bag or topic.
    """
    with tempfile.TemporaryDirectory(prefix=writer.tmp_dir.name + '-salvage-',
                                     dir=writer.tmp_dir.parent) as scratch:
        reader = _open_or_salvage(bag, Path(scratch) / 'bag')
        try:
            topics, rect, calib = _extract_open(reader, bag, writer, opts, summary, log, rig)
        finally:
            reader.close()
    return calib, topics, rect.rectifies


def _open_or_salvage(bag: Path, scratch: Path):
    """Open ``bag``; an MCAP cut short is salvaged into ``scratch`` (with a warning)."""
    try:
        return open_bag(bag)
    except DatasetError as err:
        mcap = mcap_file(bag) if bag.exists() else None
        if mcap is None or salvage_mcap(mcap, scratch) == 0:
            raise
        print(f'warning: {mcap}: cut short or damaged ({err.__cause__}); extracting the '
              'complete messages before the damage', file=sys.stderr)
        return open_bag(scratch)


def _extract_open(reader, bag: Path, writer: DatasetWriter, opts: ExtractOptions,
                  summary: Summary, log, rig):
    topics = choose_topics(reader, bag, **opts.topics)
    index = index_bag(reader, bag, topics)
    _check_layout(bag, topics, index)
    rect = _rectifier(bag, topics, index, opts)
    calib = rect.calib if opts.size is None else rect.calib.resized(*opts.size)
    if rig is not None and not _same_rig(rig, calib):
        raise DatasetError(f'{bag}: calibration differs from the first bag; extract '
                           'each rig into its own dataset folder')
    log(f'{bag}: left {topics.left}, right {topics.right}, camera_info '
        f'{topics.left_info} / {topics.right_info}; '
        + ('raw: rectifying from CameraInfo' if rect.rectifies else 'already rectified'))
    pairs, un_l, un_r = pair_stamps(index.stamps['left'], index.stamps['right'],
                                    int(opts.tolerance_s * 1e9))
    summary.dropped['unreadable message'] += index.unreadable
    summary.dropped['unmatched left'] += un_l
    summary.dropped['unmatched right'] += un_r
    t0 = min(index.stamps['left'] + index.stamps['right'])
    budget = None if opts.max_pairs is None else opts.max_pairs - summary.written
    pairs = select_pairs(pairs, t0, opts, budget, summary)
    _write_pairs(reader, bag, writer, pairs, topics, rect, opts, summary)
    return topics, rect, calib


def _write_pairs(reader, bag, writer, pairs, topics, rect, opts, summary) -> None:
    """Second pass: decode, rectify and write the selected pairs in stamp order."""
    want = {('left', a): k for k, (a, _) in enumerate(pairs)}
    want.update({('right', b): k for k, (_, b) in enumerate(pairs)})
    side_of = {topics.left: 'left', topics.right: 'right'}
    conns = [c for c in reader.connections if c.topic in side_of]
    pending, next_k = {}, 0
    with tqdm(total=len(pairs), desc=bag.name, unit='pair', file=sys.stderr) as bar:
        for conn, msg in iterate(reader, bag, conns, on_bad=lambda *_: None):  # counted
            side = side_of[conn.topic]
            k = want.pop((side, stamp_ns(msg)), None)
            if k is None:
                continue
            pending.setdefault(k, {})[side] = _decoded(rect, side, msg, conn.topic, opts.size,
                                                       summary)
            while len(pending.get(next_k, {})) == 2:
                pair = pending.pop(next_k)
                if all(v is not None for v in pair.values()):
                    _add(writer, pair, topics)
                    summary.written += 1
                next_k += 1
                bar.update(1)


def _decoded(rect: Rectifier, side: str, msg, topic: str, size, summary: Summary):
    """Return the rectified image, or None for a frame that does not decode (counted)."""
    try:
        return _finish_image(rect, side, msg, topic, size)
    except DatasetError as err:
        summary.dropped['undecodable'] += 1
        print(f'warning: stamp {stamp_ns(msg)} ns: {err}; pair skipped', file=sys.stderr)
        return None


def _add(writer: DatasetWriter, pair: dict, topics: StereoTopics) -> None:
    left, right = pair['left'], pair['right']
    if left.shape != right.shape:
        raise DatasetError(f'left/right size mismatch after decoding: {topics.left} '
                           f'{left.shape}, {topics.right} {right.shape}')
    writer.add_pair(left, right)


def _same_rig(a, b) -> bool:
    return (a.width, a.height) == (b.width, b.height) and abs(a.fx - b.fx) <= 0.005 * a.fx \
        and abs(a.baseline_m - b.baseline_m) <= 0.001


def extract(bags: list[Path], out_dir: Path, opts: ExtractOptions, overwrite: bool = False,
            log=print) -> Summary:
    """
    Extract the pairs of ``bags`` (one rig) into the dataset folder ``out_dir``.

    :param bags: bag paths.
    :param out_dir: dataset folder to create.
    :param opts: options.
    :param overwrite: replace an existing dataset in ``out_dir``.
    :param log: where to print progress lines and the summary.
    :return: the Summary.
    :raises DatasetError: bad input; nothing is left in ``out_dir``.
    """
    summary, calib, sources = Summary(), None, []
    with DatasetWriter(out_dir, overwrite) as writer:
        for bag in bags:
            bag_calib, topics, rectified = extract_bag(Path(bag), writer, opts, summary, log,
                                                       calib)
            calib = calib or bag_calib
            sources.append({'bag': str(Path(bag).resolve()), 'topics': vars(topics),
                            'rectified_by_extract': rectified})
        if summary.written == 0:
            raise DatasetError(f'no pairs selected from {[str(b) for b in bags]}: '
                               + summary.text())
        calib.source = {'tool': 'sorghum-depth-extract', 'bags': sources,
                        'tolerance_s': opts.tolerance_s, 'stride': opts.stride}
        writer.finish(calib)
    log(summary.text())
    return summary


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line interface of sorghum-depth-extract."""
    p = argparse.ArgumentParser(prog='sorghum-depth-extract', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('bags', nargs='+', type=Path, help='bag folders/files (rosbag2, .bag)')
    p.add_argument('-o', '--out', type=Path, required=True, help='dataset folder to create')
    p.add_argument('--overwrite', action='store_true', help='replace an existing dataset')
    for side in ('left', 'right'):
        p.add_argument(f'--{side}-topic', help=f'{side} image topic (default: auto)')
        p.add_argument(f'--{side}-info', help=f'{side} camera_info (default: sibling)')
    p.add_argument('--tolerance', type=non_negative, default=0.005,
                   help='max left/right header stamp difference, s (default 0.005)')
    p.add_argument('--stride', type=int, default=1, help='keep every N-th pair')
    p.add_argument('--start', type=seconds, default=0.0, help='s after the first image')
    p.add_argument('--end', type=seconds, default=None, help='s after the first image')
    p.add_argument('--max-pairs', type=int, default=None, help='stop after N pairs')
    p.add_argument('--size', type=size_wxh, default=None,
                   help='output WIDTHxHEIGHT, e.g. 640x192 (calibration is scaled)')
    p.add_argument('--fx', type=positive, default=None,
                   help='fx px, only for *rect* topics that have no camera_info')
    p.add_argument('--baseline', type=positive, default=None,
                   help='baseline m, only for *rect* topics that have no camera_info')
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return 0, or 2 with ``error: ...`` on stderr."""
    args = build_parser().parse_args(argv)
    topics = {k: getattr(args, k) for k in ('left_topic', 'right_topic', 'left_info',
                                            'right_info')}
    opts = ExtractOptions(args.tolerance, args.stride, args.start, args.end, args.max_pairs,
                          args.size, {k.replace('_topic', ''): v for k, v in topics.items()},
                          args.fx, args.baseline)
    try:
        check_selection(opts.stride, opts.max_pairs)
        extract(args.bags, args.out, opts, args.overwrite)
    except DatasetError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'dataset written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
