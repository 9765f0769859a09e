# Extra build step of the make package (sourced by lib/builder.sh, busybox sh).
# GNU make runs recipes with /bin/sh, which a closure-only root does not
# have; bin/make passes SHELL=<store bash> on its command line (a makefile's
# own `override SHELL` still wins).
bash=
for d in $deps; do
	[ -x "$d/bin/bash-static" ] && bash=$d/bin/bash-static
done
[ -n "$bash" ] || { echo "make.sh: bash missing" >&2; exit 1; }
mkdir -p "$out/libexec"
mv "$out/bin/make" "$out/libexec/make"
cat >"$out/bin/make" <<WRAP
#!$bash
# nixfarm: make wrapper; see nix/scripts/make.sh
exec $out/libexec/make SHELL=$bash "\$@"
WRAP
chmod 555 "$out/bin/make"
