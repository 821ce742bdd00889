# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Networks: the generator and its encoders, the PatchGAN discriminator."""
