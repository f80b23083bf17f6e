// [files] The GraphQL multipart request spec as a JavaScript client sends it: the
// variables hold File objects, `extract-files` (the spec author's own package, what
// apollo-upload-client uses) takes them out into the map, and fetch posts the FormData.
// Then each file is downloaded by its URL, without a token, and compared byte for byte.
//
// Env: CONFAB_URL, CONFAB_TOKEN, CONFAB_PROJECT, CONFAB_CHAT. Prints one JSON line per
// file: { field, status, mimeType, sizeBytes, downloaded, same }.
import extractFiles from "extract-files/extractFiles.mjs";
import isExtractableFile from "extract-files/isExtractableFile.mjs";

const { CONFAB_URL: url, CONFAB_TOKEN: token, CONFAB_PROJECT: project, CONFAB_CHAT: chat } =
  process.env;

function bytes(header, length) {
  const out = new Uint8Array(length);
  out.set(header);
  for (let i = header.length; i < length; i++) out[i] = (i * 7) % 251;
  return out;
}

const png = bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52], 70000);
const pdf = new TextEncoder().encode("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".repeat(20));

async function upload(query, variables, field) {
  const { clone, files } = extractFiles({ query, variables }, isExtractableFile);
  const form = new FormData();
  form.append("operations", JSON.stringify(clone));
  const map = {};
  let i = 0;
  for (const paths of files.values()) map[i++] = paths;
  form.append("map", JSON.stringify(map));
  i = 0;
  for (const file of files.keys()) form.append(String(i++), file, file.name);
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "GraphQL-Require-Preflight": "1" },
    body: form,
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data[field];
}

async function check(field, uploaded, sent) {
  const download = await fetch(`${url}${uploaded.url}`);
  const received = new Uint8Array(await download.arrayBuffer());
  const same = received.length === sent.length && received.every((b, i) => b === sent[i]);
  console.log(
    JSON.stringify({
      field,
      status: download.status,
      mimeType: uploaded.mimeType,
      sizeBytes: uploaded.sizeBytes,
      downloaded: received.length,
      same,
    }),
  );
}

const projectFile = await upload(
  "mutation($p: UUID!, $file: Upload!) { uploadProjectFile(projectId: $p, file: $file) { url mimeType sizeBytes } }",
  { p: project, file: new File([png], "diagram.png", { type: "image/png" }) },
  "uploadProjectFile",
);
await check("uploadProjectFile", projectFile, png);

const attachment = await upload(
  "mutation($c: UUID!, $file: Upload!) { uploadChatAttachment(conversationId: $c, file: $file) { url mimeType sizeBytes } }",
  { c: chat, file: new File([pdf], "notes.pdf", { type: "application/pdf" }) },
  "uploadChatAttachment",
);
await check("uploadChatAttachment", attachment, pdf);
