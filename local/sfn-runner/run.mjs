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
//       [--events events.json] [--name EXECUTION] [--child NAME=definition.json ...] \
//       [--account 123456789012] [--region us-east-1]
//
// Child executions: aws-local-stepfunctions cannot run `arn:aws:states:::states:startExecution.sync:2`,
// so such a Task runs here, in a nested run of the child's definition with the same Lambda
// handlers, waits and retries. The child's definition is `--child NAME=FILE` when NAME is the
// child state machine's name (`lakevault-backup-source`) or its short name (`backup-source`,
// `BackupSource`), else `<directory of --definition>/<short name>.asl.json` for a state machine
// named `lakevault-<short name>` (so statemachine/backup.asl.json finds
// statemachine/backup-source.asl.json). As Step Functions does, the Task answers
// {ExecutionArn, Name, StateMachineArn, Status: "SUCCEEDED", Input, Output, StartDate, StopDate}
// (Input and Output as JSON), or fails with `States.TaskFailed` whose Cause is the JSON
// {ExecutionArn, Name, StateMachineArn, Status: "FAILED", Error, Cause, StartDate, StopDate};
// a name used twice in one run is `StepFunctions.ExecutionAlreadyExistsException`, a name that
// Step Functions would refuse `StepFunctions.InvalidNameException`. Each child's event log is
// written beside --events, as `<events>.<child execution name>.json`.
//
// Placeholders: `${<Step>FunctionArn}` → arn:aws:lambda:<region>:<account>:function:<step>,
// `${<Name>StateMachineArn}` → arn:aws:states:<region>:<account>:stateMachine:lakevault-<name>
// (kebab-case: BackupSource → lakevault-backup-source).
//
// The execution is named --name (default `local-<time>`): `$$.Execution.Name` and `.Id`
// (arn:aws:states:<region>:<account>:execution:lakevault-<definition's file name>:<name>).
//
// Prints the execution's output JSON on stdout and exits 0; on a failed execution prints
// {"error", "cause"} (the execution's error and cause, as Step Functions reports them) and exits 1.
// The event history is written to --events.

import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

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
  const args = { waitMs: null, retryMs: null, account: "123456789012", region: "us-east-1", children: {} };
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
      case "--name": args.name = v; break;
      case "--child": {
        const eq = v.indexOf("=");
        if (eq <= 0) throw new Error(`--child wants NAME=definition.json, got ${v}`);
        args.children[shortName(v.slice(0, eq))] = v.slice(eq + 1);
        break;
      }
      default: throw new Error(`unknown argument ${k}`);
    }
  }
  for (const k of ["definition", "input", "endpoint"]) {
    if (!args[k]) throw new Error(`--${k === "endpoint" ? "lambda-endpoint" : k} is required`);
  }
  return args;
}

/** `SubmitJob` → `submit-job`. */
function kebab(camel) {
  return camel.replace(/[A-Z]/g, (c, i) => (i ? "-" : "") + c.toLowerCase());
}

/** A state machine's short name: `lakevault-backup-source`, `backup-source`, `BackupSource` → `backup-source`. */
function shortName(name) {
  const k = /[A-Z]/.test(name) ? kebab(name) : name;
  return k.startsWith("lakevault-") ? k.slice("lakevault-".length) : k;
}

/**
 * `${SubmitJobFunctionArn}` → the local ARN of `submit-job`; `${BackupSourceStateMachineArn}` →
 * the local ARN of the state machine `lakevault-backup-source`.
 */
export function fillPlaceholders(text, account, region) {
  return text
    .replace(/\$\{([A-Za-z]+)FunctionArn\}/g, (_, step) => `arn:aws:lambda:${region}:${account}:function:${kebab(step)}`)
    .replace(
      /\$\{([A-Za-z]+)StateMachineArn\}/g,
      (_, sm) => `arn:aws:states:${region}:${account}:stateMachine:lakevault-${kebab(sm)}`,
    );
}

/** Step Functions' rule for execution names: 1-80 characters, none of these. */
function nameProblem(name) {
  if (typeof name !== "string" || name.length < 1 || name.length > 80) return "must be 1-80 characters";
  if (/[\s<>{}\[\]?*"#%\\^|~`$&,;:\/\u0000-\u001f\u007f-\u009f]/.test(name)) return "has a character Step Functions refuses";
  return null;
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

/** An error the state machine sees by name. */
function named(name, message) {
  const err = new Error(message);
  err.name = name;
  return err;
}

/**
 * Runs `definitionFile` on `input` as the execution `name` of the state machine `smName`;
 * child executions (startExecution.sync:2 Tasks) run nested, their logs written beside
 * `eventsFile`. Resolves to {output} or {failed: {error, cause}}.
 */
async function runMachine(args, run, { definitionFile, smName, name, input, eventsFile }) {
  const definition = JSON.parse(fillPlaceholders(await readFile(definitionFile, "utf8"), args.account, args.region));
  const smArn = `arn:aws:states:${args.region}:${args.account}:stateMachine:${smName}`;
  const executionArn = `arn:aws:states:${args.region}:${args.account}:execution:${smName}:${name}`;

  const taskResourceLocalHandlers = {};
  const waitTimeOverrides = {};
  const retryIntervalOverrides = {};
  for (const [stateName, state] of allStates(definition)) {
    if (state.Type === "Task" && state.Resource === "arn:aws:states:::lambda:invoke") {
      taskResourceLocalHandlers[stateName] = (params) => invoke(args.endpoint, params);
    }
    if (state.Type === "Task" && state.Resource === "arn:aws:states:::states:startExecution.sync:2") {
      taskResourceLocalHandlers[stateName] = (params) => startChild(args, run, params, eventsFile);
    }
    if (state.Type === "Wait" && args.waitMs !== null) waitTimeOverrides[stateName] = args.waitMs;
    if (state.Retry && args.retryMs !== null) retryIntervalOverrides[stateName] = args.retryMs;
  }

  const machine = new StateMachine(definition, { validationOptions: { checkArn: true, checkPaths: true } });
  const execution = machine.run(input, {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
    context: {
      Execution: { Id: executionArn, Name: name, RoleArn: `arn:aws:iam::${args.account}:role/lakevault-local` },
      StateMachine: { Id: smArn, Name: smName },
    },
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
    // The error and cause as Step Functions reports them (the library wraps them in an ExecutionError).
    const caught = e.name === "ExecutionError" && e.cause ? e.cause : e;
    failed = { error: caught.name, cause: caught.message };
  }
  await collecting.catch(() => {});
  if (eventsFile) await writeFile(eventsFile, JSON.stringify(events, null, 1));
  return failed ? { failed, executionArn } : { output, executionArn };
}

/** The local handler of a `startExecution.sync:2` Task: the child runs nested and is waited for. */
async function startChild(args, run, params, parentEvents) {
  const smArn = params.StateMachineArn;
  const smName = typeof smArn === "string" ? smArn.split(":stateMachine:")[1] : undefined;
  if (!smName) throw named("StepFunctions.InvalidArnException", `Invalid Arn: '${smArn}'`);
  const short = shortName(smName);
  const definitionFile = args.children[short] ?? join(dirname(args.definition), `${short}.asl.json`);
  const name = params.Name ?? `${run.name}-${run.started.size + 1}`;
  const problem = nameProblem(name);
  if (problem) throw named("StepFunctions.InvalidNameException", `Invalid Name: '${name}' ${problem}`);
  const key = `${smName}:${name}`;
  if (run.started.has(key)) {
    throw named("StepFunctions.ExecutionAlreadyExistsException", `Execution Already Exists: '${key}'`);
  }
  run.started.add(key);
  let input = params.Input ?? {};
  if (typeof input === "string") input = JSON.parse(input);
  const startDate = new Date().toISOString();
  const result = await runMachine(args, run, {
    definitionFile,
    smName,
    name,
    input,
    eventsFile: parentEvents ? `${parentEvents}.${name}.json` : null,
  });
  const described = {
    ExecutionArn: result.executionArn,
    Name: name,
    StateMachineArn: smArn,
    StartDate: startDate,
    StopDate: new Date().toISOString(),
  };
  if (result.failed) {
    throw named(
      "States.TaskFailed",
      JSON.stringify({ ...described, Status: "FAILED", Error: result.failed.error, Cause: result.failed.cause }),
    );
  }
  return { ...described, Status: "SUCCEEDED", Input: input, Output: result.output };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const input = JSON.parse(await readFile(args.input, "utf8"));
  const name = args.name ?? `local-${new Date().toISOString().replace(/[^0-9]/g, "").slice(0, 17)}`;
  const problem = nameProblem(name);
  if (problem) throw new Error(`--name ${name} ${problem}`);
  const smName = `lakevault-${basename(args.definition).replace(/\.asl\.json$|\.json$/, "")}`;
  const run = { name, started: new Set() };
  const result = await runMachine(args, run, {
    definitionFile: args.definition,
    smName,
    name,
    input,
    eventsFile: args.events,
  });
  if (result.failed) {
    console.log(JSON.stringify(result.failed));
    process.exit(1);
  }
  console.log(JSON.stringify(result.output));
}

main().catch((e) => {
  console.error(`run.mjs: ${e.stack ?? e}`);
  process.exit(2);
});
