// The linter (`npm run lint`, run by CI before the tests): ESLint's and typescript-eslint's
// recommended rules on the sources, projections, tests and benchmarks. Not the type-aware rule
// sets: they need a type check per file and would double CI's time; `tsc` (npm test's pretest)
// does the type check.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  // The old-log generator runs against an old commit's APIs (@ts-nocheck): kept as it was written.
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tap/**', 'test/fixtures/old-log/generate.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `_name`: a parameter or element a signature or a destructuring needs and the code does not.
      // `self`: the object an async generator method's inner generator reads (it has no `this`).
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['self'] }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests reach into internals and hostile inputs on purpose (a fake client, a mocked clock).
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
)
