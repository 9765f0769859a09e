# Extra build step of the perl package (sourced by lib/builder.sh, busybox sh).
# Debian's perl has its @INC compiled in as absolute /usr paths (it is not
# built relocatable), so bin/perl is a wrapper that puts the same directories
# from the store on PERL5LIB (after any PERL5LIB the caller set).
bash=
for d in $deps; do
	[ -x "$d/bin/bash-static" ] && bash=$d/bin/bash-static
done
[ -n "$bash" ] || { echo "perl.sh: bash missing" >&2; exit 1; }
inc=$out/lib/x86_64-linux-gnu/perl5/5.36:$out/share/perl5:$out/lib/x86_64-linux-gnu/perl-base
inc=$inc:$out/lib/x86_64-linux-gnu/perl/5.36:$out/share/perl/5.36
mkdir -p "$out/libexec"
mv "$out/bin/perl" "$out/libexec/perl"
rm -f "$out/bin/perl5.36.0"
cat >"$out/bin/perl" <<WRAP
#!$bash
# nixfarm: perl wrapper; see nix/scripts/perl.sh
export PERL5LIB=\${PERL5LIB:+\$PERL5LIB:}$inc
exec $out/libexec/perl "\$@"
WRAP
chmod 555 "$out/bin/perl"
ln -s perl "$out/bin/perl5.36.0"
