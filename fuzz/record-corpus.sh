#!/usr/bin/env bash
# record-corpus.sh — record the fuzz targets' seed corpus from real gateways and real tools.
#
# Usage: fuzz/record-corpus.sh [--no-rgw]      (KEEP_WORK=1 keeps every answer in a temp dir)
#
# Starts haul's embedded gateway (`haul gateway serve`) and, unless --no-rgw or when it
# cannot be installed, a throwaway Ceph RGW (`scripts/gateway.sh`), and drives real S3
# requests at each with curl's SigV4 signing (`--aws-sigv4 aws:amz:us-east-1:s3`): a
# bucket, objects with awkward keys, ListObjects V1/V2 with and without a delimiter and
# `encoding-type=url`, paginated with max-keys, multipart initiate/upload/list/complete,
# CopyObject and UploadPartCopy, DeleteObjects, ListBuckets, ranged GETs, and error answers
# (NoSuchKey, NoSuchBucket, NoSuchUpload, InvalidPart, SignatureDoesNotMatch, …). Each
# response body is saved as fuzz/corpus/TARGET/GATEWAY-WHAT.xml, over what was there.
#
# Then, from real tools: an s3cmd `--configure`-style ~/.s3cfg and AWS config/credentials
# files with profiles (test keys only), a manifest and a tar index written by `haul manifest
# build` and `haul tar push` of a small tree (each also as its decompressed text, which the
# targets seal themselves), and small archives from GNU tar (ustar, GNU long names, PAX) and
# `haul tar push`.
#
# Only test keys appear in what is saved; the script fails if a secret it knows shows up.
# Needs: curl (7.75+ for --aws-sigv4), python3, GNU tar, zstd; HAUL_BIN or a release build
# (built when missing). Everything runs on loopback; gateways are stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly ROOT=$PWD
readonly CORPUS=$ROOT/fuzz/corpus
readonly REGION=us-east-1

use_rgw=1
case "${1:-}" in
    --no-rgw) use_rgw=0 ;;
    "") ;;
    *)
        echo "usage: fuzz/record-corpus.sh [--no-rgw]" >&2
        exit 2
        ;;
esac

log() { printf 'record-corpus: %s\n' "$*" >&2; }

HAUL_BIN=${HAUL_BIN:-$ROOT/target/release/haul}
if [[ ! -x $HAUL_BIN ]]; then
    log "building haul (release)"
    cargo build --release --locked -p haul
fi

WORK=$(mktemp -d)
S3S_PID=
RGW_STATE=
cleanup() {
    if [[ -n $S3S_PID ]]; then kill "$S3S_PID" 2>/dev/null || true; fi
    if [[ -n $RGW_STATE ]]; then scripts/gateway.sh stop rgw "$RGW_STATE" >/dev/null 2>&1 || true; fi
    if [[ -z ${KEEP_WORK:-} ]]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT

mkdir -p "$CORPUS"
save() { # TARGET NAME FILE: copy FILE into the corpus as TARGET/NAME
    mkdir -p "$CORPUS/$1"
    cp "$3" "$CORPUS/$1/$2"
}

# SigV4 encoding of a path (each byte but A-Z a-z 0-9 - . _ ~ / as %XX) or a query value
# (the same, `/` too): what S3 expects and what curl signs as given.
enc_path() { python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe="/-._~"))' "$1"; }
enc_query() { python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe="-._~"))' "$1"; }
# URL with its query parameters in byte order, as SigV4's canonical query has them.
sorted() {
    local url=$1
    [[ $url == *\?* ]] || { echo "$url"; return; }
    echo "${url%%\?*}?$(tr '&' '\n' <<<"${url#*\?}" | LC_ALL=C sort | paste -sd'&')"
}
# The text of the first <NAME> element of a body.
element() { python3 -c '
import re,sys,html
m=re.search(r"<%s>(.*?)</%s>"%(sys.argv[1],sys.argv[1]),open(sys.argv[2],encoding="utf-8",errors="replace").read(),re.S)
print(html.unescape(m.group(1)) if m else "")' "$1" "$2"; }

# Keys with spaces, unicode, `+`, `%`, `&<>`, quotes, a control character and one as long
# as the gateway takes (s3s-fs keeps keys as file names, about 150 bytes at most).
awkward_keys() { # LONG_BYTES
    printf '%s\n' \
        "plain.txt" \
        "dir/a b.txt" \
        "dir/sub/ünïcödé-日本語.bin" \
        "dir/sub/deeper/file" \
        "plus+sign.txt" \
        "100%.csv" \
        "amp&lt<gt>.txt" \
        "quote\"apos'.txt" \
        "emoji-🦀.txt" \
        "tilde~x=y&z" \
        "$(printf 'l%.0s' $(seq 1 "$1"))"
}

# record GATEWAY ENDPOINT ACCESS SECRET LONG_KEY_BYTES
record() {
    local gw=$1 ep=$2 ak=$3 sk=$4 long=$5
    local out=$WORK/$gw bucket=fuzz-seeds n=0
    mkdir -p "$out"
    # curl 7.88 signs the query as written and sends no payload hash (which S3 requires):
    # queries are written sorted (sorted) and the payload declared unsigned.
    local SIGN=(--aws-sigv4 "aws:amz:$REGION:s3" --user "$ak:$sk" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
    # s3 FILE CURL_ARGS... URL: one signed request, the body into FILE, the status echoed.
    s3() {
        local file=$1
        shift
        local url=${*: -1}
        curl -sS -o "$file" -w '%{http_code}' "${SIGN[@]}" "${@:1:$#-1}" "$(sorted "$url")"
    }
    # body: the next response file, in $f.
    body() {
        n=$((n + 1))
        f=$out/$n.xml
    }
    expect() { # WHAT STATUS WANT
        if [[ $2 != "$3" ]]; then
            log "$gw: $1 answered $2, expected $3: $(head -c 300 "$f" 2>/dev/null)"
            return 1
        fi
    }
    local f st
    body
    st=$(s3 "$f" -X PUT "$ep/$bucket")
    expect "CreateBucket" "$st" 200

    # Objects: every awkward key, a few bytes each.
    local key
    while IFS= read -r key; do
        body
        st=$(s3 "$f" -X PUT --data-binary "content of $key" "$ep/$bucket/$(enc_path "$key")")
        expect "PutObject $key" "$st" 200
    done < <(awkward_keys "$long")

    body; st=$(s3 "$f" "$ep/")
    expect ListBuckets "$st" 200 && save list_buckets "$gw-buckets.xml" "$f"

    # ListObjects V1 and V2: plain, delimited, url-encoded, under a prefix, paginated.
    local q name
    for q in "" "delimiter=%2F" "encoding-type=url" "delimiter=%2F&encoding-type=url" \
        "delimiter=%2F&prefix=dir%2F" "encoding-type=url&prefix=dir%2Fsub%2F"; do
        name=${q//[=&%]/-}
        name=${name:-plain}
        body; st=$(s3 "$f" "$ep/$bucket${q:+?$q}")
        expect "ListObjects $q" "$st" 200 && save list_objects "$gw-v1-$name.xml" "$f"
        body; st=$(s3 "$f" "$ep/$bucket?${q:+$q&}list-type=2")
        expect "ListObjectsV2 $q" "$st" 200 && save list_objects "$gw-v2-$name.xml" "$f"
    done
    # Pages of 3: V1 by NextMarker (or the last key), V2 by continuation token.
    local marker="" token="" page
    for page in 1 2 3; do
        body
        st=$(s3 "$f" "$ep/$bucket?encoding-type=url${marker:+&marker=$(enc_query "$marker")}&max-keys=3")
        expect "ListObjects page $page" "$st" 200 && save list_objects "$gw-v1-page$page.xml" "$f"
        marker=$(element NextMarker "$f")
        if [[ -z $marker ]]; then
            marker=$(python3 -c '
import re,sys,urllib.parse
keys=re.findall(r"<Key>(.*?)</Key>",open(sys.argv[1]).read())
print(urllib.parse.unquote_plus(keys[-1]) if keys else "")' "$f")
        fi
        body
        st=$(s3 "$f" "$ep/$bucket?${token:+continuation-token=$(enc_query "$token")&}encoding-type=url&list-type=2&max-keys=3")
        expect "ListObjectsV2 page $page" "$st" 200 && save list_objects "$gw-v2-page$page.xml" "$f"
        token=$(element NextContinuationToken "$f")
        [[ -n $token ]] || break
    done

    # A ranged GET: the Content-Range header.
    local headers=$out/range.headers
    curl -sS -o /dev/null -D "$headers" "${SIGN[@]}" -H 'Range: bytes=3-9' "$ep/$bucket/plain.txt"
    tr -d '\r' <"$headers" | sed -n 's/^[Cc]ontent-[Rr]ange: //p' | tr -d '\n' >"$out/range.txt"
    [[ -s $out/range.txt ]] && save content_range "$gw-range.txt" "$out/range.txt"

    # Multipart: initiate, two parts (5 MiB and a short last one), list, complete.
    local mkey="multi part/ob+ject.bin" upload etag1 etag2
    head -c 5242880 /dev/zero >"$out/part1"
    printf 'last part' >"$out/part2"
    body; st=$(s3 "$f" -X POST "$ep/$bucket/$(enc_path "$mkey")?uploads=")
    expect CreateMultipartUpload "$st" 200 && save create_multipart_upload "$gw-initiate.xml" "$f"
    upload=$(element UploadId "$f")
    local up="uploadId=$(enc_query "$upload")"
    etag1=$(curl -sS -o /dev/null -D - "${SIGN[@]}" -X PUT \
        --data-binary "@$out/part1" "$ep/$bucket/$(enc_path "$mkey")?partNumber=1&$up" |
        tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
    etag2=$(curl -sS -o /dev/null -D - "${SIGN[@]}" -X PUT \
        --data-binary "@$out/part2" "$ep/$bucket/$(enc_path "$mkey")?partNumber=2&$up" |
        tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
    body; st=$(s3 "$f" "$ep/$bucket/$(enc_path "$mkey")?$up")
    expect ListParts "$st" 200 && save list_parts "$gw-parts.xml" "$f"
    body; st=$(s3 "$f" "$ep/$bucket/$(enc_path "$mkey")?max-parts=1&$up")
    expect "ListParts max-parts=1" "$st" 200 && save list_parts "$gw-parts-page1.xml" "$f"
    body; st=$(s3 "$f" "$ep/$bucket?uploads=")
    if [[ $st == 200 ]]; then
        save list_multipart_uploads "$gw-uploads.xml" "$f"
        body; st=$(s3 "$f" "$ep/$bucket?max-uploads=1&uploads=")
        [[ $st == 200 ]] && save list_multipart_uploads "$gw-uploads-page1.xml" "$f"
    else
        # s3s-fs has no ListMultipartUploads: its answer is an error body.
        save error_xml "$gw-list-uploads-$st.xml" "$f"
    fi
    printf '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part><Part><PartNumber>2</PartNumber><ETag>%s</ETag></Part></CompleteMultipartUpload>' \
        "$etag1" "$etag2" >"$out/complete"
    body; st=$(s3 "$f" -X POST --data-binary "@$out/complete" "$ep/$bucket/$(enc_path "$mkey")?$up")
    expect CompleteMultipartUpload "$st" 200 && save complete_multipart_upload "$gw-complete.xml" "$f"
    body; st=$(s3 "$f" "$ep/$bucket/$(enc_path "$mkey")?$up")
    save error_xml "$gw-no-such-upload.xml" "$f"

    # Another upload, completed with a part whose ETag is wrong: InvalidPart (an error
    # status, or an <Error> in a 200 body), then aborted.
    body; st=$(s3 "$f" -X POST "$ep/$bucket/bad-complete?uploads=")
    upload=$(element UploadId "$f")
    body; s3 "$f" -X PUT --data-binary 'a part' "$ep/$bucket/bad-complete?partNumber=1&uploadId=$(enc_query "$upload")" >/dev/null
    printf '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"00000000000000000000000000000000"</ETag></Part></CompleteMultipartUpload>' >"$out/bad-complete"
    body; st=$(s3 "$f" -X POST --data-binary "@$out/bad-complete" "$ep/$bucket/bad-complete?uploadId=$(enc_query "$upload")")
    if [[ $st == 200 ]]; then save complete_multipart_upload "$gw-complete-invalid-part.xml" "$f"; else save error_xml "$gw-invalid-part.xml" "$f"; fi
    body; s3 "$f" -X DELETE "$ep/$bucket/bad-complete?uploadId=$(enc_query "$upload")" >/dev/null

    # CopyObject, and UploadPartCopy into a new upload (aborted after).
    body; st=$(s3 "$f" -X PUT -H "x-amz-copy-source: /$bucket/$(enc_path "dir/a b.txt")" \
        "$ep/$bucket/$(enc_path "copy of a b.txt")")
    expect CopyObject "$st" 200 && save copy_object "$gw-copy-object.xml" "$f"
    body; st=$(s3 "$f" -X PUT -H "x-amz-copy-source: /$bucket/missing-source" "$ep/$bucket/copy2")
    save error_xml "$gw-copy-missing-source.xml" "$f"
    body; st=$(s3 "$f" -X POST "$ep/$bucket/part-copy?uploads=")
    upload=$(element UploadId "$f")
    # The whole source as the part: curl 7.88 signs x-amz-copy-source-range in the wrong
    # order beside x-amz-copy-source.
    body; st=$(s3 "$f" -X PUT -H "Content-Length: 0" -H "x-amz-copy-source: /$bucket/$(enc_path "$mkey")" \
        "$ep/$bucket/part-copy?partNumber=1&uploadId=$(enc_query "$upload")")
    expect UploadPartCopy "$st" 200 && save copy_object "$gw-upload-part-copy.xml" "$f"
    body; s3 "$f" -X DELETE "$ep/$bucket/part-copy?uploadId=$(enc_query "$upload")" >/dev/null

    # Errors: missing key and bucket, a bad signature, a non-empty bucket, a bad range.
    body; st=$(s3 "$f" "$ep/$bucket/no/such/key")
    save error_xml "$gw-no-such-key.xml" "$f"
    body; st=$(s3 "$f" "$ep/no-such-bucket-fuzz?list-type=2")
    save error_xml "$gw-no-such-bucket.xml" "$f"
    body
    st=$(curl -sS -o "$f" -w '%{http_code}' --aws-sigv4 "aws:amz:$REGION:s3" --user "$ak:not-the-secret" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$ep/$bucket")
    save error_xml "$gw-signature-does-not-match.xml" "$f"
    body; st=$(s3 "$f" -X DELETE "$ep/$bucket")
    save error_xml "$gw-bucket-not-empty.xml" "$f"
    body; st=$(s3 "$f" -H 'Range: bytes=100000-200000' "$ep/$bucket/plain.txt")
    save error_xml "$gw-invalid-range.xml" "$f"

    # DeleteObjects, verbose then quiet, with a key that does not exist.
    local del=$out/delete objects=""
    while IFS= read -r key; do
        objects+="<Object><Key>$(python3 -c 'import sys,html;print(html.escape(sys.argv[1],quote=False))' "$key")</Key></Object>"
    done < <(awkward_keys "$long" | head -6)
    for mode in verbose quiet; do
        local quiet=""
        [[ $mode == quiet ]] && quiet="<Quiet>true</Quiet>"
        printf '<Delete>%s%s<Object><Key>never-existed</Key></Object></Delete>' "$quiet" "$objects" >"$del"
        body
        st=$(s3 "$f" -X POST -H "Content-MD5: $(openssl md5 -binary "$del" | base64)" \
            -H 'Content-Type: application/xml' --data-binary "@$del" "$ep/$bucket?delete=")
        expect "DeleteObjects $mode" "$st" 200 && save delete_objects "$gw-delete-$mode.xml" "$f"
    done

    # The keys as local paths: each awkward key, and its url-encoded form from the listing.
    local i=0
    while IFS= read -r key; do
        i=$((i + 1))
        printf '%s' "$key" >"$out/key"
        save key_to_path "$gw-key$i.txt" "$out/key"
    done < <(awkward_keys "$long")
    python3 - "$CORPUS/list_objects/$gw-v2-encoding-type-url.xml" "$CORPUS/key_to_path" "$gw" <<'EOF'
import re, sys, html, os
body = open(sys.argv[1], encoding="utf-8").read()
for i, k in enumerate(re.findall(r"<Key>(.*?)</Key>", body), 1):
    with open(os.path.join(sys.argv[2], f"{sys.argv[3]}-encoded{i}.txt"), "w") as f:
        f.write(html.unescape(k))
EOF

    # Leave nothing behind: every object, then the bucket.
    body; st=$(s3 "$f" "$ep/$bucket?list-type=2")
    python3 -c '
import re,sys,html
print("\n".join(html.unescape(k) for k in re.findall(r"<Key>(.*?)</Key>",open(sys.argv[1]).read())))' "$f" |
        while IFS= read -r key; do
            s3 /dev/null -X DELETE "$ep/$bucket/$(enc_path "$key")" >/dev/null
        done
    body; s3 "$f" -X DELETE "$ep/$bucket" >/dev/null
    log "$gw: recorded"
}

# --- haul's embedded gateway -----------------------------------------------------------------
S3S_ACCESS=haul-fuzz-access
S3S_SECRET=haul-fuzz-secret-key
mkdir -p "$WORK/s3s-root"
HAUL_GATEWAY_SECRET_KEY=$S3S_SECRET "$HAUL_BIN" gateway serve --root "$WORK/s3s-root" \
    --access-key "$S3S_ACCESS" >"$WORK/s3s.out" 2>"$WORK/s3s.err" &
S3S_PID=$!
for _ in $(seq 1 100); do
    grep -q '^endpoint=' "$WORK/s3s.out" 2>/dev/null && break
    sleep 0.1
done
S3S_ENDPOINT=$(sed -n 's/^endpoint=//p' "$WORK/s3s.out")
[[ -n $S3S_ENDPOINT ]] || { cat "$WORK/s3s.err" >&2; exit 1; }
log "s3s at $S3S_ENDPOINT"
record s3s "$S3S_ENDPOINT" "$S3S_ACCESS" "$S3S_SECRET" 120
kill "$S3S_PID"
wait "$S3S_PID" 2>/dev/null || true
S3S_PID=
SECRETS=("$S3S_SECRET")

# --- Ceph RGW ---------------------------------------------------------------------------------
if ((use_rgw)); then
    if scripts/gateway.sh install rgw >&2; then
        RGW_STATE=$WORK/rgw
        mkdir -p "$RGW_STATE"
        eval "$(scripts/gateway.sh start rgw "$RGW_STATE")"
        record rgw "$HAUL_TEST_RGW_ENDPOINT" "$HAUL_TEST_RGW_ACCESS_KEY" "$HAUL_TEST_RGW_SECRET_KEY" 900
        SECRETS+=("$HAUL_TEST_RGW_SECRET_KEY")
        scripts/gateway.sh stop rgw "$RGW_STATE" >&2
        RGW_STATE=
    else
        log "Ceph RGW cannot be installed here: recorded from s3s only"
    fi
fi

# --- nothing secret in what the gateways answered ----------------------------------------------
for s in "${SECRETS[@]}"; do
    if grep -rlF -- "$s" "$CORPUS"/{list_objects,list_buckets,create_multipart_upload,list_parts,list_multipart_uploads,complete_multipart_upload,copy_object,delete_objects,error_xml,content_range,key_to_path} >&2 2>/dev/null; then
        log "a gateway's secret key appears in the recorded answers above"
        exit 1
    fi
done

# --- config files (test keys only) -----------------------------------------------------------------------------
mkdir -p "$CORPUS/config_ini"
# What `s3cmd --configure` writes (s3cmd 2.3), pointed at a local RGW with the test keys.
cat >"$CORPUS/config_ini/s3cmd-configure.s3cfg" <<'EOF'
[default]
access_key = haultestaccess
access_token =
add_encoding_exts =
add_headers =
bucket_location = US
ca_certs_file =
cache_file =
check_ssl_certificate = True
check_ssl_hostname = True
cloudfront_host = cloudfront.amazonaws.com
connection_max_age = 5
connection_pooling = True
content_disposition =
content_type =
default_mime_type = binary/octet-stream
delay_updates = False
delete_after = False
delete_after_fetch = False
delete_removed = False
dry_run = False
enable_multipart = True
encoding = UTF-8
encrypt = False
expiry_date =
expiry_days =
expiry_prefix =
follow_symlinks = False
force = False
get_continue = False
gpg_command = /usr/bin/gpg
gpg_decrypt = %(gpg_command)s -d --verbose --no-use-agent --batch --yes --passphrase-fd %(passphrase_fd)s -o %(output_file)s %(input_file)s
gpg_encrypt = %(gpg_command)s -c --verbose --no-use-agent --batch --yes --passphrase-fd %(passphrase_fd)s -o %(output_file)s %(input_file)s
gpg_passphrase =
guess_mime_type = True
host_base = 127.0.0.1:7480
host_bucket = 127.0.0.1:7480
human_readable_sizes = False
invalidate_default_index_on_cf = False
invalidate_default_index_root_on_cf = True
invalidate_on_cf = False
kms_key =
limit = -1
limitrate = 0
list_allow_unordered = False
list_md5 = False
log_target_prefix =
long_listing = False
max_delete = -1
mime_type =
multipart_chunk_size_mb = 15
multipart_copy_chunk_size_mb = 1024
multipart_max_chunks = 10000
preserve_attrs = True
progress_meter = True
proxy_host =
proxy_port = 0
public_url_use_https = False
put_continue = False
recursive = False
recv_chunk = 65536
reduced_redundancy = False
requester_pays = False
restore_days = 1
restore_priority = Standard
secret_key = haultestsecret0123456789
send_chunk = 65536
server_side_encryption = False
signature_v2 = False
signurl_use_https = False
simpledb_host = sdb.amazonaws.com
skip_existing = False
socket_timeout = 300
ssl_client_cert_file =
ssl_client_key_file =
stats = False
stop_on_error = False
storage_class =
throttle_max = 100
upload_id =
urlencoding_mode = normal
use_http_expect = False
use_https = False
use_mime_magic = True
verbosity = WARNING
website_endpoint = http://%(bucket)s.s3-website-%(location)s.amazonaws.com/
website_error =
website_index = index.html
EOF
# The Deis runbook's file: virtual-host template, quoted secret, a $VAR value.
cat >"$CORPUS/config_ini/s3cmd-deis.s3cfg" <<'EOF'
# s3cmd config for the deis store
[default]
access_key = "haul-demo"
secret_key = $HAUL_DEMO_SECRET
host_base = deis-store.example.com
host_bucket = %(bucket)s.deis-store.example.com
use_https = yes
check_ssl_certificate = no
bucket_location = EU
EOF
cat >"$CORPUS/config_ini/aws-config" <<'EOF'
[default]
region = us-east-1
output = json

[profile ceph]
region = default
endpoint_url = http://127.0.0.1:7480
s3 =
    addressing_style = path
    # a comment inside the block
    multipart_threshold = 64MB
ca_bundle = ~/ceph-ca.pem

[profile staging] ; after the header
region=eu-west-1
services = staging-s3

[services staging-s3]
s3 =
  endpoint_url = https://s3.staging.example.com

[profile assumed]
role_arn = arn:aws:iam::123456789012:role/backup
source_profile = default
EOF
cat >"$CORPUS/config_ini/aws-credentials" <<'EOF'
[default]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY

[ceph]
aws_access_key_id=haultestaccess
aws_secret_access_key=haultestsecret0123456789
aws_session_token =
	continued-token-line
EOF
printf '\xef\xbb\xbf[default]\r\nregion = us-west-2\r\n' >"$CORPUS/config_ini/aws-config-bom-crlf"

# --- a tree, its manifest, its archives and index ---------------------------------------------
TREE=$WORK/tree
mkdir -p "$TREE/dir/sub" "$TREE/empty" "$TREE/$(printf 'd%.0s' $(seq 1 110))"
printf 'hello\n' >"$TREE/plain.txt"
printf 'spaces' >"$TREE/dir/a b.txt"
printf 'unicode' >"$TREE/dir/sub/ünïcödé-日本語.bin"
printf '%%' >"$TREE/100%.csv"
printf 'tab' >"$TREE/dir/tab$(printf '\t')name"
head -c 3000 /dev/urandom >"$TREE/dir/random.bin"
printf 'long' >"$TREE/$(printf 'd%.0s' $(seq 1 110))/$(printf 'f%.0s' $(seq 1 120))"
ln -s ../plain.txt "$TREE/dir/link"
ln "$TREE/plain.txt" "$TREE/dir/hardlink"
chmod 0750 "$TREE/dir"
touch -d '2024-01-02 03:04:05' "$TREE/plain.txt"

mkdir -p "$CORPUS/manifest_read" "$CORPUS/tar_index" "$CORPUS/tar_unpack"
"$HAUL_BIN" manifest build "$TREE" -o "$CORPUS/manifest_read/haul-tree.manifest" --no-hash-cache >&2
"$HAUL_BIN" manifest build "$TREE/dir" -o "$CORPUS/manifest_read/haul-dir.manifest" --no-hash-cache >&2
# The decompressed text without its trailer: the target seals it again.
for m in tree dir; do
    zstd -dcq "$CORPUS/manifest_read/haul-$m.manifest" | sed '$d' >"$CORPUS/manifest_read/haul-$m.txt"
done

"$HAUL_BIN" tar push "$TREE" "$WORK/haul.tar" --compress none >&2
cp "$WORK/haul.tar" "$CORPUS/tar_unpack/haul-push.tar"
cp "$WORK/haul.tar.index" "$CORPUS/tar_index/haul-push.index"
"$HAUL_BIN" tar push "$TREE" "$WORK/haul.tar.gz" --compress gzip >&2
cp "$WORK/haul.tar.gz.index" "$CORPUS/tar_index/haul-push-gzip.index"
for i in push push-gzip; do
    zstd -dcq "$CORPUS/tar_index/haul-$i.index" | sed '$d' >"$CORPUS/tar_index/haul-$i.txt"
done

# GNU tar: ustar, GNU (long names as ././@LongLink) and PAX, one record per block.
(cd "$TREE" && tar --format=ustar -b1 -cf "$CORPUS/tar_unpack/gnu-ustar.tar" plain.txt dir empty 2>/dev/null) || true
(cd "$TREE" && tar --format=gnu -b1 -cf "$CORPUS/tar_unpack/gnu-gnu.tar" .)
(cd "$TREE" && tar --format=pax -b1 -cf "$CORPUS/tar_unpack/gnu-pax.tar" .)

log "corpus: $(find "$CORPUS" -type f | wc -l) files, $(du -sh "$CORPUS" | cut -f1)"
