#!/usr/bin/env bash
echo "cowlog demo: not yet available"
