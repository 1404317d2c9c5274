# Turns a file into a C array, so certhubd serves it with no run-time file paths.
# -DIN=file -DOUT=file.c -DNAME=symbol
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "/* Generated from ${NAME}'s source file at build time. */\n#include <stddef.h>\nconst unsigned char ${NAME}[] = {${body} 0};\nconst size_t ${NAME}_len = ${bytes};\n")
