#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build SwiftRay:
# LMDB, libuv and OpenSSL (as -dev packages, found through pkg-config). Swift itself
# must already be on PATH (https://www.swift.org/install/).
set -euo pipefail

if ! command -v swift >/dev/null 2>&1; then
    echo "error: swift is not on PATH; install Swift 6 (https://www.swift.org/install/) and retry" >&2
    exit 1
fi
if pkg-config --exists lmdb libuv openssl 2>/dev/null; then
    exit 0
fi
packages="liblmdb-dev libuv1-dev libssl-dev pkg-config"
echo "installing $packages ..."
if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
else
    echo "error: need root (or sudo) to install $packages; install them and retry" >&2
    exit 1
fi
pkg-config --exists lmdb libuv openssl || { echo "error: lmdb/libuv/openssl still not found by pkg-config" >&2; exit 1; }
