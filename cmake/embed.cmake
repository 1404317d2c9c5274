# Turns a file into a C array, so certhubd serves it with no run-time file paths.
# -DIN=file -DOUT=file.c -DNAME=symbol
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
# In a section of their own, so the pages of these files are not among the constants an idle
# certhubd reads (within .rodata they shared pages, mapped whenever a string beside them was
# read: about 100 kB of its resident memory).
file(WRITE ${OUT} "/* Generated from ${NAME}'s source file at build time. */\n#include <stddef.h>\n__attribute__((section(\"certhub_embedded\"))) const unsigned char ${NAME}[] = {${body} 0};\nconst size_t ${NAME}_len = ${bytes};\n")
