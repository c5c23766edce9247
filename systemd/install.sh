#!/bin/sh
# Installs (or upgrades) litefleet as a systemd service on this device.
#
#   install.sh [--binary PATH] [--root DIR] [--no-start]
#
# Idempotent: a second run with the same inputs changes nothing and says so.
# It never overwrites /etc/litefleet.yml or /etc/litefleet.env once they
# exist, and never prints their contents. Runbook: docs/OPERATIONS.md.
set -eu

usage() {
  cat <<'EOF'
Usage: install.sh [--binary PATH] [--root DIR] [--no-start]

Installs litefleet as a systemd service:
  ROOT/usr/local/bin/litefleet                    the binary (0755; replaced when it differs)
  ROOT/etc/litefleet.yml                          from etc/litefleet.example.yml, only if absent
  ROOT/etc/litefleet.env                          from systemd/litefleet.env.example, only if absent (0600)
  ROOT/etc/systemd/system/litefleet.service       the unit (replaced when it differs)

Options:
  --binary PATH  the litefleet binary (default: dist/litefleet-linux-<arch> of this
                 checkout or release, <arch> from `uname -m`: aarch64 -> arm64, x86_64 -> x64)
  --root DIR     install into DIR instead of / (an image being built, a test); then the
                 user 'litefleet' is not created and systemctl is not run
  --no-start     do not enable, start or restart the service
  -h, --help     show this help

With --root / (the default) it must run as root; it also creates the system user
'litefleet' when missing and, when systemd is running, reloads systemd and enables
and starts the service (restarting it when the binary or unit changed).
EOF
}

say() { printf 'install.sh: %s\n' "$*"; }

die() {
  printf 'Error: %s\n' "$1" >&2
  if [ $# -gt 1 ]; then printf 'Try: %s\n' "$2" >&2; fi
  exit 1
}

usage_error() {
  printf 'Error: %s\n' "$1" >&2
  printf 'Try: install.sh --help\n' >&2
  exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

binary=""
root="/"
start=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --binary)
      [ $# -ge 2 ] || usage_error "Cannot parse options: --binary needs a path"
      binary=$2
      shift 2
      ;;
    --binary=*) binary=${1#--binary=}; shift ;;
    --root)
      [ $# -ge 2 ] || usage_error "Cannot parse options: --root needs a directory"
      root=$2
      shift 2
      ;;
    --root=*) root=${1#--root=}; shift ;;
    --no-start) start=no; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "Cannot parse options: unknown argument '$1'" ;;
  esac
done

# --- Where things come from and go -------------------------------------------

[ -n "$root" ] || usage_error "Cannot use --root '': give a directory"
[ -d "$root" ] || die "Cannot install into '$root': it is not a directory" "create it first, or leave out --root"
root=$(cd "$root" && pwd -P)
if [ "$root" = "/" ] || [ "$root" = "//" ]; then
  root=/
  system=yes
  prefix=""
else
  system=no
  prefix=$root
fi
if [ "$system" = yes ] && [ "$(id -u)" != 0 ]; then
  die "Cannot install into /: this needs root" "run it with sudo, or pass --root DIR for a staging directory"
fi

if [ -z "$binary" ]; then
  machine=$(uname -m)
  case "$machine" in
    aarch64 | arm64) arch=arm64 ;;
    x86_64 | amd64) arch=x64 ;;
    armv6l | armv7l | armhf)
      die "Cannot pick a binary for '$machine': litefleet needs a 64-bit OS (Bun has no 32-bit ARM build)" \
        "flash a 64-bit (arm64) image; see docs/OPERATIONS.md, \"Supported hardware\""
      ;;
    *) die "Cannot pick a binary for machine type '$machine'" "pass --binary PATH" ;;
  esac
  # Raspberry Pi OS (32-bit) boots a 64-bit kernel on a Pi 3/4/5, so uname
  # says aarch64 while every program, and the loader, is 32-bit.
  if [ "$system" = yes ] && [ "$arch" = arm64 ] && command -v dpkg >/dev/null 2>&1; then
    userland=$(dpkg --print-architecture 2>/dev/null || echo unknown)
    case "$userland" in
      armhf | armel)
        die "Cannot install on this system: the kernel is 64-bit but the OS is 32-bit ($userland); litefleet needs a 64-bit OS" \
          "flash Raspberry Pi OS (64-bit); see docs/OPERATIONS.md, \"Supported hardware\""
        ;;
    esac
  fi
  binary=$repo/dist/litefleet-linux-$arch
fi
[ -f "$binary" ] || die "Cannot install the binary: '$binary' does not exist or is not a file" \
  "build it (see docs/OPERATIONS.md) or pass --binary PATH"

unit_src=$here/litefleet.service
env_src=$here/litefleet.env.example
config_src=$repo/etc/litefleet.example.yml
for f in "$unit_src" "$env_src"; do
  [ -f "$f" ] || die "Cannot find '$f' beside install.sh" "run install.sh from a litefleet checkout or release (keep its systemd/ directory whole)"
done

bin_dst=$prefix/usr/local/bin/litefleet
config_dst=$prefix/etc/litefleet.yml
env_dst=$prefix/etc/litefleet.env
unit_dst=$prefix/etc/systemd/system/litefleet.service

changes=0
binary_changed=no
unit_changed=no

# mode_of FILE: the permission bits in octal (e.g. 600).
mode_of() {
  stat -c '%a' "$1" 2>/dev/null || stat -f '%Lp' "$1"
}

# put SRC DST MODE: installs SRC as DST with MODE unless DST already has the
# same content and mode. Atomic (temp file + rename), so a running binary is
# never overwritten in place. Sets `put_result` to installed|updated|unchanged.
put() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then
    if [ "$(mode_of "$2")" = "$3" ] || [ "$(mode_of "$2")" = "0$3" ]; then
      put_result=unchanged
      return
    fi
    chmod "$3" "$2"
    put_result=updated
    return
  fi
  if [ -e "$2" ]; then put_result=updated; else put_result=installed; fi
  mkdir -p "$(dirname "$2")"
  tmp=$(dirname "$2")/.$(basename "$2").install-tmp.$$
  trap 'rm -f "$tmp"' EXIT
  cp "$1" "$tmp"
  chmod "$3" "$tmp"
  mv -f "$tmp" "$2"
  trap - EXIT
}

# keep_or_put SRC DST MODE: installs DST from SRC only when DST does not exist.
keep_or_put() {
  if [ -e "$2" ]; then
    put_result=kept
    return
  fi
  mkdir -p "$(dirname "$2")"
  tmp=$(dirname "$2")/.$(basename "$2").install-tmp.$$
  trap 'rm -f "$tmp"' EXIT
  # Create the copy with its final mode before writing, so a secret is never
  # readable by others, not even for a moment.
  (umask 077 && cp "$1" "$tmp")
  chmod "$3" "$tmp"
  mv -f "$tmp" "$2"
  trap - EXIT
  put_result=installed
}

report() {
  case "$put_result" in
    installed) changes=$((changes + 1)); say "installed $1" ;;
    updated) changes=$((changes + 1)); say "updated $1" ;;
    unchanged) say "unchanged $1" ;;
    kept) say "kept $1 (it exists; never overwritten)" ;;
  esac
}

# check_binary: runs a copy of the new binary (`litefleet version`) beside its
# destination before anything is replaced, so a binary for the wrong
# architecture or a truncated download never replaces a working one. The copy
# sits in the destination directory because the source may be on a noexec mount.
check_binary() {
  mkdir -p "$(dirname "$bin_dst")"
  probe=$(dirname "$bin_dst")/.litefleet.install-check.$$
  trap 'rm -f "$probe"' EXIT
  cp "$binary" "$probe"
  chmod 755 "$probe"
  if ! version=$("$probe" version 2>&1); then
    rm -f "$probe"
    trap - EXIT
    die "Cannot run '$binary' on this machine: $(printf '%s\n' "$version" | head -n 1)" \
      "use the binary built for $(uname -m) on a 64-bit OS, and check it against SHA256SUMS"
  fi
  rm -f "$probe"
  trap - EXIT
  say "new binary runs: $version"
}

# --- Files --------------------------------------------------------------------

if [ "$system" = yes ] && ! { [ -f "$bin_dst" ] && cmp -s "$binary" "$bin_dst"; }; then
  check_binary
fi
put "$binary" "$bin_dst" 755
report "$bin_dst"
[ "$put_result" = unchanged ] || binary_changed=yes

if [ -e "$config_dst" ]; then
  put_result=kept
elif [ -f "$config_src" ]; then
  keep_or_put "$config_src" "$config_dst" 644
else
  die "Cannot install '$config_dst': the example '$config_src' is missing" \
    "copy etc/litefleet.example.yml from the release beside systemd/, or write $config_dst yourself first"
fi
report "$config_dst"

keep_or_put "$env_src" "$env_dst" 600
report "$env_dst"
if [ "$put_result" = kept ]; then
  case "$(mode_of "$env_dst")" in
    600 | 0600 | 400 | 0400) ;;
    *) say "warning: $env_dst has mode $(mode_of "$env_dst"); it holds secrets: chmod 600 $env_dst" ;;
  esac
fi

put "$unit_src" "$unit_dst" 644
report "$unit_dst"
[ "$put_result" = unchanged ] || unit_changed=yes

# --- User -----------------------------------------------------------------------

if [ "$system" = yes ]; then
  if id -u litefleet >/dev/null 2>&1; then
    say "unchanged user litefleet (exists)"
  else
    command -v useradd >/dev/null 2>&1 || die "Cannot create the user 'litefleet': useradd is not installed" \
      "create a system user 'litefleet' by hand, then run install.sh again"
    if getent group litefleet >/dev/null 2>&1; then group_opt="--gid litefleet"; else group_opt="--user-group"; fi
    # shellcheck disable=SC2086 # group_opt is two words on purpose
    useradd --system --no-create-home --home-dir /var/lib/litefleet --shell /usr/sbin/nologin \
      $group_opt --comment "litefleet replication agent" litefleet
    changes=$((changes + 1))
    say "created system user litefleet"
  fi
else
  say "not creating user litefleet under --root: create it in the image before first boot"
  say "  (systemd-sysusers --root=$root with a sysusers.d entry; see docs/OPERATIONS.md, \"Image builds\")"
fi

# --- Service ----------------------------------------------------------------------

config_is_example=no
if [ -f "$config_src" ] && cmp -s "$config_src" "$config_dst"; then config_is_example=yes; fi

if [ "$system" = no ]; then
  say "not running systemctl under --root"
elif [ ! -d /run/systemd/system ]; then
  say "systemd is not running here: not enabling the service"
else
  if [ "$unit_changed" = yes ]; then
    systemctl daemon-reload
    say "reloaded systemd (the unit changed)"
  fi
  if [ "$start" = no ]; then
    say "--no-start: not enabling or starting litefleet"
  elif [ "$config_is_example" = yes ]; then
    # The example names placeholder databases and variables: started as is,
    # the agent would exit with a config error and restart every 5 s.
    say "not enabling or starting litefleet: $config_dst is still the unedited example"
  else
    if ! systemctl is-enabled --quiet litefleet 2>/dev/null; then
      systemctl enable --quiet litefleet
      changes=$((changes + 1))
      say "enabled litefleet (starts at boot)"
    fi
    if ! systemctl is-active --quiet litefleet; then
      systemctl start litefleet
      changes=$((changes + 1))
      say "started litefleet"
    elif [ "$binary_changed" = yes ] || [ "$unit_changed" = yes ]; then
      # The agent makes its final sync on SIGTERM; the spool survives.
      systemctl restart litefleet
      say "restarted litefleet to run the new binary/unit"
    fi
  fi
fi

# --- Summary -------------------------------------------------------------------------

if [ "$changes" -eq 0 ]; then
  say "nothing changed: litefleet is already installed as given"
else
  say "done: $changes change(s)"
fi
if [ "$config_is_example" = yes ]; then
  say "next: edit $config_dst (databases, bucket; docs/CONFIG.md) and $env_dst (S3 credentials),"
  say "      and add each database's directory to ReadWritePaths= in a drop-in (docs/OPERATIONS.md);"
  if [ "$system" = yes ]; then say "      then: systemctl enable --now litefleet"; fi
elif [ "$system" = yes ] && [ "$start" = no ]; then
  say "next: systemctl enable --now litefleet"
fi
