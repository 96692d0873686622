#!/usr/bin/env bash
# classification benchmark: tools/benchmarks/classification/train.sh <config> <checkpoint> <gpus> [tools/train.py args...]
# (see tools/benchmarks/train_benchmark.sh)
exec bash "$(dirname "${BASH_SOURCE[0]}")/../train_benchmark.sh" "$@"
