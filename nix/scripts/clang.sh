# Extra build step of the clang packages (clang, clang15, clang16; sourced by
# lib/builder.sh, busybox sh). The LLVM major is the tree's lib/llvm-<N>.
# Debian's clang finds its resource headers relative to itself, but takes the
# GCC installation (crtbegin.o, libgcc, libstdc++ headers), glibc's headers
# and crt files and the linker from /usr. The clang and clang++ wrappers pass
# the store ones: --gcc-toolchain=<gcc package>, -B for crt files and ld,
# -idirafter for glibc's headers, -dynamic-linker and -rpath as gcc.sh does.
bash= libcdev= stdcxx= libgcc= gcc=
for d in $deps; do
	[ -x "$d/bin/bash-static" ] && bash=$d/bin/bash-static
	[ -e "$d/include/stdio.h" ] && libcdev=$d
	[ -e "$d/lib/x86_64-linux-gnu/libstdc++.so.6" ] && stdcxx=$d
	[ -e "$d/lib/x86_64-linux-gnu/libgcc_s.so.1" ] && libgcc=$d
	[ -d "$d/lib/gcc/x86_64-linux-gnu/12" ] && [ -x "$d/bin/ld" ] && gcc=$d
done
for v in bash libcdev stdcxx libgcc gcc; do
	eval "[ -n \"\$$v\" ]" || { echo "clang.sh: no $v among deps" >&2; exit 1; }
done
llvm=
for d in "$out"/lib/llvm-*; do
	[ -x "$d/bin/clang" ] && llvm=${d##*/llvm-}
done
[ -n "$llvm" ] || { echo "clang.sh: no lib/llvm-<N>/bin/clang in the tree" >&2; exit 1; }
multi=lib/x86_64-linux-gnu
flags="--gcc-toolchain=$gcc -B$gcc/bin/ -B$libcdev/$multi/ -L$libcdev/$multi"
flags="$flags -idirafter $libcdev/include/x86_64-linux-gnu -idirafter $libcdev/include"
flags="$flags -Wl,-dynamic-linker=$glibc/$multi/ld-linux-x86-64.so.2"
for l in "$glibc/$multi" "$stdcxx/$multi" "$libgcc/$multi"; do
	flags="$flags -L$l -Wl,-rpath,$l"
done
for name in clang clang++ "clang-$llvm" "clang++-$llvm"; do
	rm -f "$out/bin/$name"
	real=${name%-"$llvm"}
	{
		echo "#!$bash"
		echo "# nixfarm: $name wrapper; see nix/scripts/clang.sh"
		echo "exec $out/lib/llvm-$llvm/bin/$real $flags \"\$@\""
	} >"$out/bin/$name"
	chmod 555 "$out/bin/$name"
done
