# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
sorghum_depth: dense metric depth from one camera for field robots.

The core modules (geometry, image helpers, inference) are ROS-free; ROS glue lives only
in the node and message conversion modules.
"""

__version__ = '0.1.0'
