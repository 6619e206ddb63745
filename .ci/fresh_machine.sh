#!/usr/bin/env bash
# A fresh machine with only Python 3.11 and pip: clone this repository into a temporary
# directory and run the README's two quick-start commands verbatim, with the system packages
# the main CI run installs (Chromium, the CJK font, poppler, Pango) hidden, no database servers
# and no FINASSIST_* settings. Passes only when both commands work and the tests that need
# those packages skipped with a reason naming them.
#
# Hiding needs root: the script re-runs itself in a private mount namespace (unshare), lays an
# overlay over /usr and /etc there and deletes the packages' files from the overlay. Nothing
# outside the namespace changes; the temporary directory is removed at the end.
#
# Usage: .ci/fresh_machine.sh            (from anywhere inside the repository)
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
HIDDEN_PACKAGES=(chromium chromium-common chromium-driver fonts-wqy-microhei poppler-utils
  libpango-1.0-0 libpangoft2-1.0-0)
# What a skipped system test's reason names (tests/system_packages.py), one per hidden need.
SKIP_REASONS=("system package chromium" "system package poppler-utils" "libpango-1.0-0")

fail() { echo "fresh_machine: $*" >&2; exit 1; }
step() { echo "fresh_machine: [$(($(date +%s) - started))s] $*"; }
started=$(date +%s)

if [ "${1:-}" != "--inside" ]; then
  [ "$(id -u)" = 0 ] || fail "needs root (it hides system packages in a private mount namespace)"
  command -v unshare >/dev/null || fail "needs unshare (util-linux)"
  # The temporary directory is made and removed out here: inside, its overlay stays mounted
  # until the namespace ends.
  scratch="$(mktemp -d /tmp/finassist-fresh.XXXXXX)"
  status=0
  unshare --mount --propagation private -- "$0" --inside "$scratch" || status=$?
  rm -rf "$scratch"
  [ "$status" = 0 ] && step "passed"
  exit "$status"
fi

scratch="$2"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then kill -- "-$server_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  server_pid=""
}
trap stop_server EXIT

# --- Hide the system packages: an overlay over /usr and /etc, their files deleted in it.
mkdir -p "$scratch/overlay"
mount -t tmpfs fresh-overlay "$scratch/overlay"
for root in /usr /etc; do
  name="${root#/}"
  mkdir -p "$scratch/overlay/$name.upper" "$scratch/overlay/$name.work"
  mount -t overlay overlay \
    -o "lowerdir=$root,upperdir=$scratch/overlay/$name.upper,workdir=$scratch/overlay/$name.work" "$root"
done
hidden=0
for pkg in "${HIDDEN_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || continue
  while IFS= read -r path; do
    case "$path" in /usr/* | /etc/*) ;; *) continue ;; esac
    if [ -L "$path" ] || [ -f "$path" ]; then rm -f "$path" && hidden=$((hidden + 1)); fi
  done < <(dpkg -L "$pkg")
done
step "hid $hidden files of: ${HIDDEN_PACKAGES[*]} (those installed)"

# Prove they are gone before trusting any skip.
for exe in chromium chromedriver pdftoppm pdffonts; do
  if command -v "$exe" >/dev/null; then fail "$exe is still visible"; fi
done
[ ! -e /usr/bin/chromium ] || fail "/usr/bin/chromium is still visible"
if command -v fc-list >/dev/null && fc-list | grep -qi wqy; then fail "a WenQuanYi font is still visible"; fi
if python3 -c 'import ctypes; ctypes.CDLL("libpango-1.0.so.0")' 2>/dev/null; then
  fail "libpango-1.0.so.0 still loads"
fi

# --- A fresh clone, a fresh home, only the machine's Python and pip settings.
git clone --quiet "$repo" "$scratch/finassist"
mkdir -p "$scratch/home"
# Drop the CI's virtual environment (.ci/run activates it) from PATH; keep the machine's Python.
path=":$PATH:"
if [ -n "${VIRTUAL_ENV:-}" ]; then path="${path//:$VIRTUAL_ENV\/bin:/:}"; fi
path="${path#:}" && path="${path%:}"
clean_env=(env -i "HOME=$scratch/home" "PATH=$path" "LANG=C.UTF-8" "TMPDIR=$scratch")
while IFS='=' read -r name _; do
  case "$name" in PIP_* | PYENV_*) clean_env+=("$name=${!name}") ;; esac
done < <(env)

# The README's quick-start block: its two commands, read from the README itself.
mapfile -t commands < <(
  awk '/^## 快速开始/ {s = 1} s && /^```bash/ {b = 1; next} b && /^```/ {exit} b && /^[^#]/ && NF' \
    "$scratch/finassist/README.md"
)
[ "${#commands[@]}" = 2 ] || fail "expected two commands in the README's quick start, found ${#commands[@]}"
case "${commands[0]}" in *"finassist demo"*) ;; *) fail "command 1 no longer runs finassist demo: ${commands[0]}" ;; esac
cd "$scratch/finassist"

# --- Command 1 installs and starts the demo server; it runs until stopped. Wait for it to
# answer a question with the key it printed, then stop it. A free port keeps it clear of
# anything else on the machine (the command itself is unchanged).
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
step "command 1: ${commands[0]}"
"${clean_env[@]}" "FINASSIST_SERVER__PORT=$port" setsid bash -c "${commands[0]}" \
  >"$scratch/demo.log" 2>&1 &
server_pid=$!
healthy() {
  python3 -c 'import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/health", timeout=5)' "$port" >/dev/null 2>&1
}
key=""
for _ in $(seq 1 600); do
  kill -0 "$server_pid" 2>/dev/null || { cat "$scratch/demo.log"; fail "command 1 exited early"; }
  key="$(sed -n 's/.*API 密钥：\(\S*\).*/\1/p' "$scratch/demo.log" | head -n1)"
  if [ -n "$key" ] && healthy; then break; fi
  key=""
  sleep 1
done
[ -n "$key" ] || { cat "$scratch/demo.log"; fail "command 1: no server answering after 10 minutes"; }
python3 - "$port" "$key" <<'EOF' || { cat "$scratch/demo.log"; fail "command 1: the demo server did not answer"; }
import json, sys, urllib.request
port, key = sys.argv[1], sys.argv[2]
body = {"model": "finassist", "messages": [{"role": "user", "content": "华东汽车近12个月的现金流怎么样？"}]}
request = urllib.request.Request(
    f"http://127.0.0.1:{port}/v1/chat/completions", data=json.dumps(body).encode(),
    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=120) as response:
    text = json.load(response)["choices"][0]["message"]["content"]
assert "华东汽车" in text, text
print("fresh_machine: demo answered:", text.splitlines()[0][:80])
EOF
stop_server
step "command 1 passed"

# --- Command 2 installs the development extras and runs the whole suite.
step "command 2: ${commands[1]}"
status=0
"${clean_env[@]}" bash -c "${commands[1]}" 2>&1 | tee "$scratch/pytest.log" || status=$?
[ "$status" = 0 ] || fail "command 2 failed (exit $status)"
for reason in "${SKIP_REASONS[@]}"; do
  grep -q "^SKIPPED .*$reason" "$scratch/pytest.log" \
    || fail "no test skipped naming \"$reason\": were the system packages really hidden?"
done
step "command 2 passed; system tests skipped naming: ${SKIP_REASONS[*]}"
