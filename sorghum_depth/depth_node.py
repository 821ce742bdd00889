# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ``depth_node`` console script: the node of ``ros_node``, Ctrl-C safe from the start.

rclpy and torch take seconds to import; they are imported inside ``main`` so that a
Ctrl-C at any moment of start-up or shutdown ends the process without a traceback.
"""

import sys

from .interrupt import ctrl_c_held, first_ctrl_c_only


def main(args=None) -> int:
    """Run the node; exit 2 when the parameters, the device or the model are unusable."""
    with first_ctrl_c_only():
        try:
            with ctrl_c_held():             # rclpy's import calls Python from C++ too
                from .ros_node import run
            return run(args)
        except KeyboardInterrupt:
            return 0


if __name__ == '__main__':
    sys.exit(main())
