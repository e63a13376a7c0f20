// Lint rules, including the one-way import boundaries of docs/architecture.md:
// api <- kube <- controller; diagnosis/model <- netstack <- plugins|service|policy|providers <- engine
// <- diagnosis/index.ts; controller and cli see only diagnosis/index.ts; only kube/ imports the
// Kubernetes client; the engine does no I/O.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeIo = ['fs', 'fs/promises', 'child_process', 'net', 'dgram', 'http', 'https', 'os', 'process', 'worker_threads'];
const ioModules = [...nodeIo, ...nodeIo.map((m) => `node:${m}`), 'winston', '@kubernetes/client-node'];

/** Forbids imports whose specifier matches any of the gitignore-style `patterns`. */
function forbid(files, patterns, message, paths = []) {
  return {
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: paths.map((name) => ({ name, message })),
          patterns: patterns.length > 0 ? [{ group: patterns, message }] : [],
        },
      ],
    },
  };
}

// Ranks of the diagnosis layers: a layer may import only layers of a lower rank (and its own).
const diagnosisRanks = { model: 0, netstack: 1, plugins: 2, service: 2, policy: 2, providers: 2, engine: 3 };
const diagnosisLayers = Object.keys(diagnosisRanks);
const higherLayers = (layer) => diagnosisLayers.filter((l) => diagnosisRanks[l] > diagnosisRanks[layer]);
const shellFolders = ['**/kube/**', '**/controller/**', '**/lab/**', '**/cli/**', '**/collector/agent/**'];
const diagnosisInternals = diagnosisLayers.map((l) => `**/diagnosis/${l}/**`);

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.netdiag/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' }],
    },
  },
  {
    // Tool configuration files: plain JavaScript whose tools require a default export.
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: { 'no-restricted-syntax': 'off', '@typescript-eslint/explicit-module-boundary-types': 'off' },
  },
  // Later entries replace earlier ones for the same files, so each entry lists everything it forbids.
  // Outside diagnosis/: only its public entry; only kube/ imports the Kubernetes client.
  forbid(
    ['src/**/*.ts'],
    diagnosisInternals,
    'Import the diagnosis engine only through src/diagnosis/index.ts; only src/kube imports the Kubernetes client.',
    ['@kubernetes/client-node'],
  ),
  forbid(['src/kube/**/*.ts'], [...diagnosisInternals, '**/controller/**'], 'kube/ must not import controller/ or diagnosis internals.'),
  // controller/ sits between kube/ and the composition root: it never reaches up into the commands.
  forbid(
    ['src/controller/**/*.ts'],
    [...diagnosisInternals, '**/cli/**', '**/lab/**', '**/collector/agent/**'],
    'controller/ must not import cli/, lab/, collector/agent/ or diagnosis internals; only src/kube imports the Kubernetes client.',
    ['@kubernetes/client-node'],
  ),
  // The pure core: no I/O, no Kubernetes client, no logger.
  forbid(
    ['src/diagnosis/*.ts', 'src/api/**/*.ts', 'src/collector/*.ts', 'src/collector/parsers/**/*.ts', 'src/lab/scenario.ts', 'src/lab/scenario-manifests.ts', 'src/lab/scenario-judge.ts', 'src/lab/networks/types.ts', 'src/cni-tap/tap.ts', 'src/cni-tap/conflist-edit.ts'],
    shellFolders,
    'This code is pure: no I/O, no Kubernetes client, no logger (docs/architecture.md).',
    ioModules,
  ),
  ...diagnosisLayers.map((layer) =>
    forbid(
      [`src/diagnosis/${layer}/**/*.ts`],
      [...higherLayers(layer).flatMap((l) => [`**/diagnosis/${l}/**`, `../${l}/**`, `../../${l}/**`]), ...shellFolders],
      `diagnosis/${layer} is pure and may only import lower layers (model <- netstack <- plugins|service|policy|providers <- engine).`,
      ioModules,
    ),
  ),
  // Tests may reach into the module they test and use the filesystem for fixtures.
  { files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'], rules: { 'no-restricted-imports': 'off' } },
);
