#ifndef CHORUS_CSODIUM_SHIM_H
#define CHORUS_CSODIUM_SHIM_H
#include <sodium.h>
#endif
