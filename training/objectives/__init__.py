# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Objectives: warping, the loss terms, the depth objective."""
