// The integration tests must not pass by skipping: without a testbed this
// fails.
if (!process.env.OV_TESTBED) {
  console.error(
    "OV_TESTBED is not set: run the integration tests inside the testbed,\n" +
      "  node clients/testbed/testbed.mjs clients/typescript/run-tests",
  );
  process.exit(1);
}
