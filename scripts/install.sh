#!/usr/bin/env bash
# Install ccd as a systemd service: a virtualenv in /opt/ccd, the unit, a config template in
# /etc/ccd/ccd.toml (an existing one is kept), a `ccd` system user, then the schema migrations.
# Safe to run again: every step checks what is already there.
#
#   sudo scripts/install.sh [--dry-run] [--prefix /opt/ccd] [--config-dir /etc/ccd]
#                           [--unit-dir /etc/systemd/system] [--python python3]
#
# --dry-run prints each command instead of running it (no root needed).
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=/opt/ccd
CONFIG_DIR=/etc/ccd
UNIT_DIR=/etc/systemd/system
PYTHON=python3
DRY_RUN=0
SERVICE_USER=ccd

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --prefix) PREFIX="$2"; shift ;;
        --config-dir) CONFIG_DIR="$2"; shift ;;
        --unit-dir) UNIT_DIR="$2"; shift ;;
        --python) PYTHON="$2"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

CONFIG="$CONFIG_DIR/ccd.toml"
UNIT="$UNIT_DIR/ccd.service"

# Print a command, and run it unless this is a dry run.
run() {
    echo "+ $*"
    if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}

note() { echo "# $*"; }

if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo), or with --dry-run to see what it would do" >&2
    exit 1
fi

note "ccd from $SRC"

# 1. The service user: no shell, no home of its own (systemd's StateDirectory is its place).
if id -u "$SERVICE_USER" >/dev/null 2>&1; then
    note "user $SERVICE_USER exists"
else
    run useradd --system --home-dir /var/lib/ccd --no-create-home \
        --shell /usr/sbin/nologin "$SERVICE_USER"
fi

# 2. The package in its own virtualenv.
if [ -x "$PREFIX/bin/python" ]; then
    note "virtualenv $PREFIX exists"
else
    run "$PYTHON" -m venv "$PREFIX"
fi
run "$PREFIX/bin/pip" install --quiet --upgrade pip
run "$PREFIX/bin/pip" install --quiet --upgrade "$SRC"

# 3. The unit, with this install's paths in it.
echo "+ sed <paths> $SRC/scripts/ccd.service > $UNIT"
if [ "$DRY_RUN" = 0 ]; then
    install -d -m 0755 "$UNIT_DIR"
    sed -e "s#/opt/ccd/#$PREFIX/#g" -e "s#CCD_CONFIG=/etc/ccd/ccd.toml#CCD_CONFIG=$CONFIG#" \
        "$SRC/scripts/ccd.service" > "$UNIT.new"
    chmod 0644 "$UNIT.new"
    mv "$UNIT.new" "$UNIT"
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    run systemctl daemon-reload
else
    note "systemd is not running here: skipping daemon-reload"
fi

# 4. The config: a template the first time, never over an operator's file.
fresh_config=0
if [ -e "$CONFIG" ]; then
    note "keeping existing $CONFIG"
else
    run install -d -m 0750 "$CONFIG_DIR"
    run install -m 0640 "$SRC/scripts/ccd.toml.example" "$CONFIG"
    if id -u "$SERVICE_USER" >/dev/null 2>&1 || [ "$DRY_RUN" = 1 ]; then
        run chgrp "$SERVICE_USER" "$CONFIG_DIR" "$CONFIG"
    fi
    fresh_config=1
fi

# 5. The schema. A fresh template still has placeholder credentials: migrate after editing it.
if [ "$fresh_config" = 1 ]; then
    note "edit $CONFIG (database_url, [[nodes]]), then run:"
    note "  sudo -u $SERVICE_USER $PREFIX/bin/ccd --config $CONFIG db upgrade"
else
    run "$PREFIX/bin/ccd" --config "$CONFIG" db upgrade
fi

note "done. Start with: systemctl enable --now ccd; check: systemctl status ccd"
