# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Export: TorchScript and ONNX files of a trained generator, with metadata."""
