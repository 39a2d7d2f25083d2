// Lint and formatting rules for the whole tree (server, tests, benchmarks, scripts, web UI). `npm run lint`
// runs this with the import-cycle and unused-export checks; `npm run lint:fix` applies the fixable layout rules.
import js from '@eslint/js';
import comments from '@eslint-community/eslint-plugin-eslint-comments/configs';
import stylistic from '@stylistic/eslint-plugin';
import tseslint from 'typescript-eslint';

/**
 * The house keeps a statement on one line where it reads as one thought, so lines run long; 200 is what the code
 * meets. Strings and template literals may run past it: a message a person reads is easier to find in the code
 * when it is not cut in pieces.
 */
const MAX_LINE_LENGTH = 200;
/** A line of JSX text (a sentence the page shows, opening with a capital): prose, like a string. */
const PROSE_LINE = '^\\s+[A-Z][a-z]+ ';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'nango-data/', 'coverage/', '**/*.js', '**/*.mjs', '!eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  comments.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { '@stylistic': stylistic },
    rules: {
      // `any` only with a reason: an eslint-disable comment that says why (`-- reason`).
      '@typescript-eslint/no-explicit-any': 'error',
      '@eslint-community/eslint-comments/require-description': ['error', { ignore: [] }],
      '@eslint-community/eslint-comments/no-unlimited-disable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      // Input checks match control characters on purpose: they refuse them.
      'no-control-regex': 'off',
      // The house layout: 2 spaces, single quotes, semicolons, trailing commas in multi-line lists.
      '@stylistic/indent': ['error', 2, { SwitchCase: 1, flatTernaryExpressions: true, offsetTernaryExpressions: true, ignoredNodes: ['TSUnionType', 'TSIntersectionType', 'ConditionalExpression *'] }],
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
      '@stylistic/semi': ['error', 'always'],
      '@stylistic/comma-dangle': ['error', 'always-multiline'],
      '@stylistic/max-len': ['error', { code: MAX_LINE_LENGTH, ignoreUrls: true, ignoreRegExpLiterals: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignorePattern: PROSE_LINE }],
      '@stylistic/no-trailing-spaces': 'error',
      '@stylistic/eol-last': 'error',
      '@stylistic/no-multiple-empty-lines': ['error', { max: 1, maxBOF: 0, maxEOF: 0 }],
      '@stylistic/brace-style': ['error', '1tbs', { allowSingleLine: true }],
      '@stylistic/keyword-spacing': 'error',
      '@stylistic/space-before-blocks': 'error',
      '@stylistic/space-infix-ops': 'error',
      '@stylistic/comma-spacing': 'error',
      '@stylistic/key-spacing': 'error',
      '@stylistic/arrow-parens': ['error', 'always'],
      '@stylistic/member-delimiter-style': 'error',
      '@stylistic/type-annotation-spacing': 'error',
      '@stylistic/jsx-quotes': ['error', 'prefer-double'],
    },
  },
  {
    // Source files stay short enough to read whole: split by concept before 350 lines.
    files: ['src/**/*.ts'],
    rules: { 'max-lines': ['error', { max: 350, skipBlankLines: false, skipComments: false }] },
  },
  {
    // Over the limit until the credential-model reshaping (issue 19, items 1 to 3) splits them; delete this entry then.
    files: ['src/services/oauth-flow-service.ts', 'src/store/connections-store.ts'],
    rules: { 'max-lines': 'off' },
  },
  {
    // Released migrations are never edited, not even to re-indent them.
    files: ['migrations/20260101000000_nango_seed_tables.ts'],
    rules: { '@stylistic/indent': 'off' },
  },
);
