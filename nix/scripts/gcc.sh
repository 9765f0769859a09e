# Extra build step of the gcc, gcc11, gfortran, gdc and gobjc packages (sourced
# by lib/builder.sh, busybox sh). The GCC major is the tree's lib/gcc/<triplet>/<N>.
# Debian's gcc-12 finds its own libexec and lib/gcc when relocated, but not
# glibc's headers, crt files, ld.so or the runtime libraries, which it
# expects under /usr and /lib. Wrappers (gcc g++ cc c++ cpp) add them from
# the store: -B for crt files and as/ld, -idirafter for headers (same order as
# /usr/include), -dynamic-linker and -rpath so compiled programs run in a root
# that holds only the closure. gfortran's tree has its own driver, f951 and
# libgcc files but takes as/ld from the gcc package (a dependency).
bash= libcdev= stdcxx= libgcc= runtimes= binutils=
# gdc's Phobos links -lz (zlib1g-dev is in its tree); programs need libz.so.1.
extra_rt=
[ -x "$out/bin/gdc-12" ] && extra_rt=libz.so.1
for d in "$out" $deps; do
	[ -z "$binutils" ] && [ -x "$d/bin/as" ] && binutils=$d
	# Runtime libraries of -fsanitize, -fopenmp, atomics, quad math, TM.
	for so in libasan.so.8 libubsan.so.1 liblsan.so.0 libtsan.so.2 libatomic.so.1 \
		libgomp.so.1 libquadmath.so.0 libitm.so.1 libgfortran.so.5 libgphobos.so.3 libobjc.so.4 $extra_rt; do
		if [ -e "$d/lib/x86_64-linux-gnu/$so" ]; then
			runtimes="$runtimes $d/lib/x86_64-linux-gnu"
			break
		fi
	done
	[ -x "$d/bin/bash-static" ] && bash=$d/bin/bash-static
	[ -e "$d/include/stdio.h" ] && libcdev=$d
	[ -e "$d/lib/x86_64-linux-gnu/libstdc++.so.6" ] && stdcxx=$d
	[ -e "$d/lib/x86_64-linux-gnu/libgcc_s.so.1" ] && libgcc=$d
done
for v in bash libcdev stdcxx libgcc binutils; do
	eval "[ -n \"\$$v\" ]" || { echo "gcc.sh: no $v among deps" >&2; exit 1; }
done
major=
for d in "$out"/lib/gcc/x86_64-linux-gnu/*; do
	[ -d "$d" ] && major=${d##*/}
done
[ -n "$major" ] || { echo "gcc.sh: no lib/gcc/x86_64-linux-gnu/<N> in the tree" >&2; exit 1; }
multi=lib/x86_64-linux-gnu
libdirs="$glibc/$multi $stdcxx/$multi $libgcc/$multi$runtimes"

wrap() { # wrap <name> <real program> <extra flags>
	rm -f "$out/bin/$1"
	{
		echo "#!$bash"
		echo "# nixfarm: $1 wrapper; see nix/scripts/gcc.sh"
		echo "exec $out/bin/$2 $3 \"\$@\""
	} >"$out/bin/$1"
	chmod 555 "$out/bin/$1"
}

inc="-idirafter $libcdev/include/x86_64-linux-gnu -idirafter $libcdev/include"
link="-B$binutils/bin/ -B$libcdev/$multi/ -Wl,-dynamic-linker=$glibc/$multi/ld-linux-x86-64.so.2"
for l in $libdirs; do
	link="$link -L$l -Wl,-rpath,$l"
done
cxxinc="-isystem $out/include/c++/$major -isystem $out/include/x86_64-linux-gnu/c++/$major -isystem $out/include/c++/$major/backward"

if [ -x "$out/bin/gcc-12" ] && [ -x "$out/bin/g++-12" ]; then
	wrap gcc gcc-12 "$link $inc"
	wrap cc gcc-12 "$link $inc"
	wrap g++ g++-12 "$link $cxxinc $inc"
	wrap c++ g++-12 "$link $cxxinc $inc"
	wrap cpp cpp-12 "$inc"
fi
# gcc11: an older GCC beside the gcc package (whose binutils it takes); its
# wrappers keep the versioned names (gcc-11, g++-11) and run Debian's
# x86_64-linux-gnu-* drivers, which find cc1 relative to themselves.
if [ "$major" != 12 ] && [ -x "$out/bin/x86_64-linux-gnu-g++-$major" ]; then
	wrap "gcc-$major" "x86_64-linux-gnu-gcc-$major" "$link $inc"
	wrap "g++-$major" "x86_64-linux-gnu-g++-$major" "$link $cxxinc $inc"
	rm -f "$out/bin/cpp-$major"
fi
if [ -x "$out/bin/gdc-12" ]; then
	wrap gdc gdc-12 "$link"
	rm -f "$out/bin/gcc" "$out/bin/gcc-12" "$out/bin/x86_64-linux-gnu-gcc-12"
fi
# gobjc: the gcc-12 driver finds cc1obj and the objc headers in this tree.
if [ -e "$out/lib/gcc/x86_64-linux-gnu/12/cc1obj" ] && [ ! -x "$out/bin/g++-12" ]; then
	wrap gobjc gcc-12 "$link $inc"
	rm -f "$out/bin/gcc"
fi
if [ -x "$out/bin/gfortran-12" ]; then
	wrap gfortran gfortran-12 "$link $inc"
	rm -f "$out/bin/gcc" "$out/bin/gcc-12" "$out/bin/x86_64-linux-gnu-gcc-12"
fi
