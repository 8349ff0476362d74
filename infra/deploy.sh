#!/usr/bin/env bash
# lakevault deployment helper. Run from anywhere; paths are relative to the repository.
#
#   infra/deploy.sh build
#       Builds the six step functions for Lambda (arm64 zips in target/lambda/<step>/bootstrap.zip).
#       Needs cargo-lambda (pip install cargo-lambda, which brings zig for cross builds).
#
#   ARTIFACT_BUCKET=<bucket> infra/deploy.sh backup Key=Value...
#       In the BACKUP account. Uploads the zips and statemachine/backup.asl.json to the artifact
#       bucket under content-addressed keys (a changed file gets a new key, which is what makes
#       CloudFormation update the function or state machine) and deploys infra/backup-account.yaml.
#       Key=Value pairs are template parameters, e.g.
#         SourceAccountId=111111111111 SourceBuckets=lake-prod,lake-raw \
#         SnapshotBucketPrefix=acme-lakevault \
#         BreakGlassRoleArns=arn:aws:iam::222222222222:role/lakevault-break-glass
#       (on later deploys, unchanged parameters keep their values: pass only what changes).
#
#   infra/deploy.sh source <source-bucket> <batch-role-arn>
#       In the SOURCE account. Deploys infra/source-account.yaml (the bucket policy granting the
#       batch role read access) as stack lakevault-source-<bucket>. Refuses a bucket that already
#       has a policy this stack does not own, because the stack would REPLACE that policy: use
#       `statement` and merge by hand instead.
#
#   infra/deploy.sh statement <source-bucket> <batch-role-arn>
#       Prints the policy statement to merge into an existing source bucket policy.
#
#   infra/deploy.sh inventory <source-bucket> <backup-account-id> <inventory-bucket> [prefix] [configuration-id]
#       In the SOURCE account. Creates or replaces (same id: idempotent) the bucket's daily CSV
#       S3 Inventory configuration delivering to the backup account's inventory bucket.
#       prefix defaults to "inventory", configuration-id to "daily" (the backup stack's defaults).
#
# Environment: the AWS CLI's usual (AWS_PROFILE, AWS_REGION...). Pick the account with AWS_PROFILE.
#   STACK_NAME       backup stack name (default: lakevault); it prefixes the function names
#   ARTIFACT_BUCKET  artifact bucket in the backup account and region (backup only)
#   ARTIFACT_PREFIX  key prefix for artifacts (default: lakevault)

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STEPS=(locate-manifest create-bucket submit-job await-job audit-report notify)
STACK_NAME="${STACK_NAME:-lakevault}"
ARTIFACT_PREFIX="${ARTIFACT_PREFIX:-lakevault}"

die() {
    echo "deploy.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
}

# The template parameter naming a step's code key: locate-manifest -> LocateManifestCodeKey.
code_key_param() {
    local out="" part
    local IFS=-
    for part in $1; do
        out+="$(tr '[:lower:]' '[:upper:]' <<<"${part:0:1}")${part:1}"
    done
    echo "${out}CodeKey"
}

# Uploads a file under <prefix>/<name>/<sha256-16>.<ext> and prints the key.
upload() {
    local file="$1" name="$2" ext="$3" hash key
    hash="$(sha256sum "$file" | cut -c1-16)"
    key="${ARTIFACT_PREFIX}/${name}/${hash}.${ext}"
    aws s3 cp --only-show-errors "$file" "s3://${ARTIFACT_BUCKET}/${key}" >&2
    echo "$key"
}

cmd_build() {
    command -v cargo-lambda >/dev/null || die "cargo-lambda not found: pip install cargo-lambda"
    cd "$ROOT"
    local step
    for step in "${STEPS[@]}"; do
        cargo lambda build --release --arm64 --output-format zip --package "$step"
    done
}

cmd_backup() {
    [[ -n "${ARTIFACT_BUCKET:-}" ]] || die "set ARTIFACT_BUCKET (a bucket in the backup account and region)"
    cd "$ROOT"
    local step zip params=()
    for step in "${STEPS[@]}"; do
        zip="target/lambda/${step}/bootstrap.zip"
        [[ -f "$zip" ]] || die "$zip missing: run infra/deploy.sh build first"
        params+=("$(code_key_param "$step")=$(upload "$zip" "$step" zip)")
    done
    params+=("ArtifactBucket=${ARTIFACT_BUCKET}")
    params+=("DefinitionKey=$(upload statemachine/backup.asl.json statemachine asl.json)")
    aws cloudformation deploy \
        --template-file infra/backup-account.yaml \
        --stack-name "$STACK_NAME" \
        --capabilities CAPABILITY_IAM \
        --no-fail-on-empty-changeset \
        --parameter-overrides "${params[@]}" "$@"
    aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
        --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text
}

statement_json() {
    local bucket="$1" role="$2"
    cat <<EOF
{
  "Sid": "LakevaultBatchOperationsRead",
  "Effect": "Allow",
  "Principal": {"AWS": "${role}"},
  "Action": ["s3:GetObject", "s3:GetObjectAcl", "s3:GetObjectTagging",
             "s3:GetObjectVersion", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
  "Resource": "arn:aws:s3:::${bucket}/*"
}
EOF
}

cmd_statement() {
    [[ $# -eq 2 ]] || usage
    statement_json "$1" "$2"
}

cmd_source() {
    [[ $# -eq 2 ]] || usage
    local bucket="$1" role="$2" stack policy err errfile
    # Stack names allow letters, digits and hyphens only.
    stack="lakevault-source-$(tr '._' '--' <<<"$bucket")"
    # The stack owns the policy if it exists already; otherwise the bucket must have none.
    if ! aws cloudformation describe-stacks --stack-name "$stack" >/dev/null 2>&1; then
        errfile="$(mktemp)"
        if policy="$(aws s3api get-bucket-policy --bucket "$bucket" --output text 2>"$errfile")"; then
            rm -f "$errfile"
            echo "$bucket already has a bucket policy, which this stack would REPLACE:" >&2
            echo "$policy" >&2
            echo "Add this statement to it wherever it is managed, instead of deploying:" >&2
            statement_json "$bucket" "$role" >&2
            exit 1
        fi
        err="$(cat "$errfile")"
        rm -f "$errfile"
        [[ "$err" == *NoSuchBucketPolicy* ]] || die "cannot read the policy of $bucket: $err"
    fi
    aws cloudformation deploy \
        --template-file "$ROOT/infra/source-account.yaml" \
        --stack-name "$stack" \
        --no-fail-on-empty-changeset \
        --parameter-overrides "SourceBucket=${bucket}" "BatchOperationsRoleArn=${role}"
}

cmd_inventory() {
    [[ $# -ge 3 && $# -le 5 ]] || usage
    local bucket="$1" account="$2" destination="$3" prefix="${4:-inventory}" id="${5:-daily}"
    # CSV: the only inventory format S3 Batch Operations accepts as a manifest. Current versions
    # only: a snapshot is the bucket as it is. The optional fields are what the audit and a
    # restore need to know about each object.
    aws s3api put-bucket-inventory-configuration \
        --bucket "$bucket" \
        --id "$id" \
        --inventory-configuration "$(
            cat <<EOF
{
  "Id": "${id}",
  "IsEnabled": true,
  "IncludedObjectVersions": "Current",
  "Schedule": {"Frequency": "Daily"},
  "Destination": {
    "S3BucketDestination": {
      "AccountId": "${account}",
      "Bucket": "arn:aws:s3:::${destination}",
      "Prefix": "${prefix}",
      "Format": "CSV",
      "Encryption": {"SSES3": {}}
    }
  },
  "OptionalFields": ["Size", "LastModifiedDate", "ETag", "StorageClass", "IsMultipartUploaded",
                     "ReplicationStatus", "EncryptionStatus", "ObjectLockRetainUntilDate",
                     "ObjectLockMode", "ObjectLockLegalHoldStatus"]
}
EOF
        )"
    echo "inventory $id of $bucket delivers to s3://${destination}/${prefix}/ (first report within 48 h)"
}

[[ $# -ge 1 ]] || usage
command="$1"
shift
case "$command" in
build) cmd_build "$@" ;;
backup) cmd_backup "$@" ;;
source) cmd_source "$@" ;;
statement) cmd_statement "$@" ;;
inventory) cmd_inventory "$@" ;;
*) usage ;;
esac
