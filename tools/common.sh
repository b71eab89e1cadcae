# Shared by tools/run-tests and tools/run-main: installs what the scripts need
# on a fresh Debian 12 machine, with apt-get (as root, or through sudo).

# The Debian packages of the test command and the main job. Test-only and
# benchmark-only: catch2, libbenchmark-dev; optional oracles and competitors
# (never needed by the library): libphonenumber-dev, liboath-dev, libssl-dev,
# nlohmann-json3-dev, python3 (XML check). The fleet stage: redis-server (the
# real server its tests start, never a mock) and libhiredis-dev (the optional
# phoneverify::redis transport).
PHONEVERIFY_PACKAGES=(g++ clang libclang-rt-14-dev cmake ninja-build pkg-config meson catch2 libbenchmark-dev
                      libphonenumber-dev liboath-dev libssl-dev nlohmann-json3-dev valgrind python3
                      redis-server libhiredis-dev python3-prometheus-client)

ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== installing missing Debian packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "need root or sudo to install: ${missing[*]}" >&2; return 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Parallel jobs: the CI machine has 2 cores.
PHONEVERIFY_JOBS=${PHONEVERIFY_JOBS:-$(nproc 2>/dev/null || echo 2)}
