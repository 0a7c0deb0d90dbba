/* SPDX-License-Identifier: MIT */
/* Placeholder: replaced by the XML plist scanner. */
#include "value/plist.h"

int rk_plist_xml_locate_error(const char *buf, size_t len, int *line, int *column, char **keypath,
                              char **message) {
        (void) buf;
        (void) len;
        (void) line;
        (void) column;
        (void) keypath;
        (void) message;
        return 0;
}
