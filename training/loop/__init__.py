# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""The training loop: config, trainer, one step, validation, logging, checkpoints."""
