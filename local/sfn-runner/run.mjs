#!/usr/bin/env node
// Runs a lakevault state machine definition locally on aws-local-stepfunctions.
//
// Every Task that calls `arn:aws:states:::lambda:invoke` goes through a Lambda Invoke endpoint
// (the local one in `lakevault-local serve`, the same path Step Functions Local takes), and a
// function error becomes the error Step Functions would see: name = errorType (Lambda.Unknown when
// there is none), Cause = the error JSON. Wait states and retry intervals can be shortened.
//
//   node run.mjs --definition statemachine/backup.asl.json --input run.json \
//       --lambda-endpoint http://127.0.0.1:PORT [--wait-ms 100] [--retry-ms 50] \
//       [--events events.json] [--account 123456789012] [--region us-east-1]
//
// Prints the execution's output JSON on stdout and exits 0; on a failed execution prints
// {"error", "cause"} and exits 1. The event history is written to --events.

import { readFile, writeFile } from "node:fs/promises";

// aws-local-stepfunctions 3 uses Promise.withResolvers (Node >= 22). On Node 20 every Task would
// fail *after* its handler ran; define it before the library loads.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
const { StateMachine } = await import("aws-local-stepfunctions");

function parseArgs(argv) {
  const args = { waitMs: null, retryMs: null, account: "123456789012", region: "us-east-1" };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`missing value for ${k}`);
    switch (k) {
      case "--definition": args.definition = v; break;
      case "--input": args.input = v; break;
      case "--lambda-endpoint": args.endpoint = v.replace(/\/$/, ""); break;
      case "--wait-ms": args.waitMs = Number(v); break;
      case "--retry-ms": args.retryMs = Number(v); break;
      case "--events": args.events = v; break;
      case "--account": args.account = v; break;
      case "--region": args.region = v; break;
      default: throw new Error(`unknown argument ${k}`);
    }
  }
  for (const k of ["definition", "input", "endpoint"]) {
    if (!args[k]) throw new Error(`--${k === "endpoint" ? "lambda-endpoint" : k} is required`);
  }
  return args;
}

/** `${SubmitJobFunctionArn}` → the local ARN of `submit-job`. */
export function fillPlaceholders(text, account, region) {
  return text.replace(/\$\{([A-Za-z]+)FunctionArn\}/g, (_, step) => {
    const name = step.replace(/[A-Z]/g, (c, i) => (i ? "-" : "") + c.toLowerCase());
    return `arn:aws:lambda:${region}:${account}:function:${name}`;
  });
}

/** Every state of a definition, nested Map/Parallel states included. */
function allStates(def, out = []) {
  for (const [name, state] of Object.entries(def.States ?? {})) {
    out.push([name, state]);
    const inner = state.ItemProcessor ?? state.Iterator;
    if (inner) allStates(inner, out);
    for (const b of state.Branches ?? []) allStates(b, out);
  }
  return out;
}

async function invoke(endpoint, params) {
  const fn = params.FunctionName;
  const res = await fetch(`${endpoint}/2015-03-31/functions/${encodeURIComponent(fn)}/invocations`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(params.Payload ?? {}),
  });
  const text = await res.text();
  if (res.status !== 200) {
    // A Lambda service error: Step Functions reports it as Lambda.<exception name>.
    const type = res.headers.get("x-amzn-errortype") ?? "ServiceException";
    const err = new Error(text);
    err.name = `Lambda.${type.split(":")[0]}`;
    throw err;
  }
  const body = text ? JSON.parse(text) : null;
  if (res.headers.get("x-amz-function-error")) {
    const err = new Error(JSON.stringify(body));
    err.name = body?.errorType ?? "Lambda.Unknown";
    throw err;
  }
  return { ExecutedVersion: res.headers.get("x-amz-executed-version") ?? "$LATEST", Payload: body, StatusCode: 200 };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const definition = JSON.parse(fillPlaceholders(await readFile(args.definition, "utf8"), args.account, args.region));
  const input = JSON.parse(await readFile(args.input, "utf8"));

  const taskResourceLocalHandlers = {};
  const waitTimeOverrides = {};
  const retryIntervalOverrides = {};
  for (const [name, state] of allStates(definition)) {
    if (state.Type === "Task" && state.Resource === "arn:aws:states:::lambda:invoke") {
      taskResourceLocalHandlers[name] = (params) => invoke(args.endpoint, params);
    }
    if (state.Type === "Wait" && args.waitMs !== null) waitTimeOverrides[name] = args.waitMs;
    if (state.Retry && args.retryMs !== null) retryIntervalOverrides[name] = args.retryMs;
  }

  const machine = new StateMachine(definition, { validationOptions: { checkArn: true, checkPaths: true } });
  const execution = machine.run(input, {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
  });
  const events = [];
  const collecting = (async () => {
    for await (const ev of execution.eventLogs) events.push(ev);
  })();
  let output;
  let failed = null;
  try {
    output = await execution.result;
  } catch (e) {
    failed = { error: e.name === "ExecutionError" ? e.cause?.name ?? e.name : e.name, cause: e.message };
  }
  await collecting.catch(() => {});
  if (args.events) await writeFile(args.events, JSON.stringify(events, null, 1));
  if (failed) {
    console.log(JSON.stringify(failed));
    process.exit(1);
  }
  console.log(JSON.stringify(output));
}

main().catch((e) => {
  console.error(`run.mjs: ${e.stack ?? e}`);
  process.exit(2);
});
