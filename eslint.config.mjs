// @ts-check
import eslint from "@eslint/js";
import tseslint from "typescript-eslint";

/** The client libraries: loading one costs the provider host's start, and only the effect rooms use them. */
const CLIENTS = ["etcd3", "@grpc/grpc-js", "ssh2", "@pulumi/pulumi"];

/**
 * What the pure rooms may not import, type-only or not (a type import is a dependency too, and the runtime layer
 * test cannot see it): the effects (etcd/, hosts/), the runs (run/), the lifecycles (resources/) and the Pulumi layer (the root).
 */
const EFFECTS_AND_ABOVE = {
  regex: "^\\.\\./(etcd|hosts|run|resources|cli)(/|$)|^\\.\\./(dynamic|index)$|^\\.\\.$",
  message:
    "plan/ and inputs/ import only shared types, inputs, config and pure helpers (values/, errors/): never etcd/, hosts/, the runs or the Pulumi layer",
};

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", ".cache/", "sdks/nodejs/"] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "@typescript-eslint/no-require-imports": "off",
      // A type-only import says so, so a reader (and the boundaries below) can tell it from one that loads code.
      "@typescript-eslint/consistent-type-imports": ["error", { disallowTypeAnnotations: false }],
    },
  },
  {
    // The shared observation, record and output types: every layer reads them, so they import nothing.
    files: ["provider/types/**/*.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        { patterns: [{ regex: "^(?!\\./)", message: "provider/types/ imports nothing outside itself" }] },
      ],
    },
  },
  {
    files: ["provider/plan/**/*.ts", "provider/inputs/**/*.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          paths: CLIENTS.map((name) => ({
            name,
            message: "a client library belongs to etcd/ or hosts/",
            allowTypeImports: true,
          })),
          patterns: [EFFECTS_AND_ABOVE],
        },
      ],
    },
  },
);
