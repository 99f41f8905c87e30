#!/usr/bin/env bash
# Sourced by the quick-start scripts: installs Debian packages only when they are missing.
# Usage: ensure_packages NAME...
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What building the library, its tests and its tools needs. ocl-icd-opencl-dev is libdnnl-dev's
# recommendation, which --no-install-recommends skips: Debian's oneDNN is built with an OpenCL GPU
# runtime, and its CMake package requires OpenCL, so find_package(dnnl) fails without it.
BUILD_PACKAGES=(g++ cmake make libgtest-dev libgmock-dev libbenchmark-dev libspdlog-dev libeigen3-dev libcli11-dev
  nlohmann-json3-dev zlib1g-dev libdeflate-dev libxsmm-dev libdnnl-dev ocl-icd-opencl-dev libopenmpi-dev openmpi-bin)
