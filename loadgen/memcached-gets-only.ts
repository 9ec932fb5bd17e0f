#!/usr/bin/env node
/** `memcached-gets-only <key_size> <value_size> <host> <port> [options]`: see client-cli.ts. */
import { runClientBin } from './client-cli';

runClientBin('gets-only');
