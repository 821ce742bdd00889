# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training side of sorghum_depth, installed as `sorghum_depth_training`.

Networks, losses, discriminator, data extraction, trainer, export and evaluation.
Imports torch, numpy, OpenCV and rosbags; never rclpy.
"""
