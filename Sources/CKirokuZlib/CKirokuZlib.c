// The hub inflates request bodies with zlib directly so that a stream cut short is an error (Inflate.swift).
#include "CKirokuZlib.h"
