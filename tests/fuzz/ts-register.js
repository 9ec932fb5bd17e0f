/**
 * Lets a plain `node` child process require the project's TypeScript sources directly (the fuzz
 * soak runs in its own process so that `--expose-gc` and its heap are its own): each .ts file is
 * transpiled on load with the installed typescript, types unchecked (jest and tsc check them).
 * Usage: node -r ./tests/fuzz/ts-register.js tests/fuzz/memory-soak.ts ...
 */
'use strict';
const fs = require('fs');
const ts = require('typescript');

const compilerOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  sourceMap: false,
};

require.extensions['.ts'] = (module, filename) => {
  const source = fs.readFileSync(filename, 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions, fileName: filename });
  module._compile(outputText, filename);
};
