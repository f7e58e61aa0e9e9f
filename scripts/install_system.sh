#!/usr/bin/env bash
# Debian packages the project needs: Chromium for the crawler (Playwright cannot download its own browser
# here), CJK fonts so Hangul renders in demo covers and screenshots, and Xvfb for the crawler's headful mode
# (TIKTOK_TOP10_HEADFUL=1: a headed Chromium on a virtual display). Installs only what is missing.
set -euo pipefail
packages=(chromium fonts-noto-cjk xvfb)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
