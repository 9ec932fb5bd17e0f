#!/usr/bin/env node
/** `memcached-puts-only <key_size> <value_size> <host> <port> [options]`: see client-cli.ts. */
import { runClientBin } from './client-cli';

runClientBin('puts-only');
