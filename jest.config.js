/** Tests are TypeScript, run by ts-jest; integration tests start real processes from dist/. */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json', diagnostics: { warnOnly: false } }] },
  testMatch: ['<rootDir>/tests/**/*.test.ts', '<rootDir>/protocol/**/*.test.ts', '<rootDir>/daemon/**/*.test.ts', '<rootDir>/mu-core/**/*.test.ts', '<rootDir>/binding/**/*.test.ts', '<rootDir>/loadgen/**/*.test.ts'],
  testTimeout: 60000,
};
