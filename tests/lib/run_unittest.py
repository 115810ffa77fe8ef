#!/usr/bin/env python3
"""Runs the unittest module named by argv[1] (from the current directory) verbosely and exits
with its result, skipping the interpreter's teardown: grpcio's C core can crash while the
interpreter shuts down with channels or python3-etcd3 watch threads still alive, after every
test has already passed, which CTest would report as a failed test."""
import os
import sys
import unittest

sys.path.insert(0, os.getcwd())
program = unittest.main(module=sys.argv[1], argv=[sys.argv[0]], verbosity=2, exit=False)
sys.stdout.flush()
sys.stderr.flush()
os._exit(0 if program.result.wasSuccessful() else 1)
