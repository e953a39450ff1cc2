# Shared by ci/images/postfix/build and ci/images/opensmtpd/build: a
# Debian bookworm root filesystem from Debian's own mirror (the one this
# machine's apt uses), one MTA package in it, then `docker import`
# (conformance spec §5.4). No registry is involved.
#
# The peer images' contract (what the conformance `container` target relies on):
#   SMTP_LISTEN=IP:PORT   where the MTA listens (default 0.0.0.0:25; the
#                         harness runs containers with host networking and
#                         gives 127.0.0.1:<free port>)
#   SMARTHOST=HOST:PORT   where every non-local message and bounce goes
#   ME=NAME               the host name; NAME and localhost are local
#   LOCAL_USERS="a b"     local users besides `user` (created at start)
#   /homes/NAME           each local user's home, with a Maildir; bind-mount
#                         a directory at /homes to read the deliveries
#   /conformance/queue-empty   exits 0 when the queue holds no message
#   LABEL org.mta.conformance=1  on the image, so containers carry it too
set -euo pipefail

# The Debian mirror apt already uses (deb822 or one-line sources).
debian_mirror() {
  local m
  m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v security | head -1 || true)
  [ -n "$m" ] || m=$(grep -hs '^deb ' /etc/apt/sources.list 2>/dev/null \
        | awk '{print $2}' | grep -v security | head -1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}

# bootstrap DIR PACKAGES: minbase bookworm plus PACKAGES into DIR.
bootstrap() {
  local dir=$1 pkgs=$2
  command -v mmdebstrap >/dev/null || {
    echo "mmdebstrap is missing: run ci/setup (as root)" >&2; exit 1; }
  # Daemons must not start inside the build root.
  mmdebstrap --quiet --variant=minbase --include="$pkgs" \
    --essential-hook='mkdir -p "$1/usr/sbin" && printf "#!/bin/sh\nexit 101\n" > "$1/usr/sbin/policy-rc.d" && chmod 755 "$1/usr/sbin/policy-rc.d"' \
    --customize-hook='rm -f "$1/usr/sbin/policy-rc.d"; rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm "$dir" "$(debian_mirror)"
}

# The label naming the recipe an image was built from.
DIGEST_LABEL=org.mta.peer.digest

# recipe_digest DIR: sha256 of the image's recipe, DIR's files and this one.
recipe_digest() {
  local dir=$1
  { (cd "$dir" && find . -type f | LC_ALL=C sort | xargs sha256sum)
    sha256sum < "${BASH_SOURCE[0]}"; } | sha256sum | cut -d' ' -f1
}

# up_to_date IMAGE DIGEST [--force]: IMAGE exists and was built from the
# recipe DIGEST (a changed entrypoint or build script rebuilds; --force
# rebuilds anyway, e.g. for newer Debian packages).
up_to_date() {
  local image=$1 digest=$2 have
  [ "${3:-}" != --force ] || return 1
  have=$(docker image inspect --format "{{ index .Config.Labels \"$DIGEST_LABEL\" }}" \
           "$image" 2>/dev/null || true)
  [ "$have" = "$digest" ]
}

# import DIR IMAGE DIGEST: the root filesystem as IMAGE, started by
# /entrypoint, labelled with its recipe's DIGEST.
import_rootfs() {
  local dir=$1 image=$2 digest=$3
  tar -C "$dir" -c . | docker import \
    --change 'ENTRYPOINT ["/bin/sh", "/entrypoint"]' \
    --change 'LABEL org.mta.conformance=1' \
    --change "LABEL $DIGEST_LABEL=$digest" \
    --change 'EXPOSE 25' \
    - "$image" >/dev/null
  docker image ls "$image"
}
