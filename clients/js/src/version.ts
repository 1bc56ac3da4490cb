/** The package version, sent in `hello.client` as `lifeline-js/VERSION`. */
export const VERSION = "0.1.0";
