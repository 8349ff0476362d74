#!/usr/bin/env node
// Validates ASL definitions with asl-validator's JS API (its 4.0.0 CLI ignores its check flags).
//   node validate.mjs statemachine/backup.asl.json statemachine/backup-source.asl.json ...
// Prints {"file": ..., "isValid": ..., "errors": [...]} per file; exits 1 if any is invalid.
import { readFile } from "node:fs/promises";
import aslValidator from "asl-validator";

let ok = true;
for (const file of process.argv.slice(2)) {
  // Placeholders are filled at deploy time; validate with a syntactically real ARN in their place.
  const text = (await readFile(file, "utf8"))
    .replace(/\$\{([A-Za-z]+)FunctionArn\}/g, "arn:aws:lambda:us-east-1:123456789012:function:placeholder")
    .replace(/\$\{([A-Za-z]+)StateMachineArn\}/g, "arn:aws:states:us-east-1:123456789012:stateMachine:placeholder");
  const { isValid, errors } = aslValidator(JSON.parse(text), { checkArn: true, checkPaths: true });
  ok &&= isValid;
  console.log(JSON.stringify({ file, isValid, errors }));
}
process.exit(ok ? 0 : 1);
