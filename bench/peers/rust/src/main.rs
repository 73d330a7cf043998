//! A minimal in-memory Flame-compatible Arrow Flight cache on arrow-flight + tonic, the stack of Flame's
//! own object cache (arrow-flight 58 / tonic 0.14). It is the compiled *peer* of flame-cache in the
//! benchmark: the same put/get wire contract as `bench/peers/pyarrow_server.py` (flame-protocol.md
//! section 2), no storage, no eviction, no deltas.
//!
//! - DoPut: key from descriptor `path[0]` (2 parts -> + uuid4, 3 parts -> as is); the payload is the
//!   `data` column (column 1, Binary) of every received batch, concatenated (zero-copy when there is one
//!   row); replies with one PutResult whose app_metadata is the BSON ObjectRef
//!   `{endpoint: string, key: string, version: int64}`.
//! - DoGet: ticket `"<key>:<version>"` -> one batch `{version uint64, kind utf8, data binary}`, one base
//!   row built around the stored buffer without copying it. Replies are not compressed (like the
//!   pyarrow peer; Flame's server ZSTD-compresses them).
//! - DoAction `DELETE` (body: key or prefix) -> one result `OK`.
//!
//! Usage: `flight-peer [--host 127.0.0.1] [--port 0]`. Prints one JSON line on stderr:
//! `{"msg": "rust peer started", "listen": "127.0.0.1:<port>"}`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch, StringArray, UInt64Array};
use arrow_buffer::{Buffer, MutableBuffer, OffsetBuffer, ScalarBuffer};
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_descriptor::DescriptorType;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest,
    HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic::{Request, Response, Status, Streaming};

type Stream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// One stored object: its version and payload.
struct Object {
    version: u64,
    payload: Buffer,
}

struct Peer {
    endpoint: String,
    objects: Mutex<HashMap<String, Object>>,
    read_schema: SchemaRef,
}

fn read_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("version", DataType::UInt64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("data", DataType::Binary, false),
    ]))
}

/// The BSON ObjectRef `{endpoint, key, version: int64}`, fields in Flame's order.
fn object_ref(endpoint: &str, key: &str, version: u64) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, name: &str, value: &str) {
        out.push(0x02);
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(&((value.len() + 1) as i32).to_le_bytes());
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
    let mut out = vec![0u8; 4];
    string(&mut out, "endpoint", endpoint);
    string(&mut out, "key", key);
    out.push(0x12);
    out.extend_from_slice(b"version\0");
    out.extend_from_slice(&(version as i64).to_le_bytes());
    out.push(0);
    let len = out.len() as i32;
    out[..4].copy_from_slice(&len.to_le_bytes());
    out
}

/// The full key of a put: a 2-part prefix gets a fresh object id, a 3-part key is taken as is.
fn put_key(path: &str) -> Result<String, Status> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.len() {
        2 if parts.iter().all(|p| !p.is_empty()) => Ok(format!("{path}/{}", uuid::Uuid::new_v4())),
        3 if parts.iter().all(|p| !p.is_empty()) => Ok(path.to_string()),
        _ => Err(Status::invalid_argument(format!("Invalid key '{path}'"))),
    }
}

fn flight_status(e: FlightError) -> Status {
    match e {
        FlightError::Tonic(s) => *s,
        other => Status::internal(other.to_string()),
    }
}

#[tonic::async_trait]
impl FlightService for Peer {
    type HandshakeStream = Stream<HandshakeResponse>;
    type ListFlightsStream = Stream<FlightInfo>;
    type DoGetStream = Stream<FlightData>;
    type DoPutStream = Stream<PutResult>;
    type DoActionStream = Stream<arrow_flight::Result>;
    type ListActionsStream = Stream<ActionType>;
    type DoExchangeStream = Stream<FlightData>;

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        let mut input = request.into_inner();
        // The key comes from the first message's descriptor (Flame reads only that one).
        let first = input.message().await?.ok_or_else(|| Status::invalid_argument("empty DoPut stream"))?;
        let descriptor = first.flight_descriptor.clone();
        let input = stream::once(async { Ok(first) }).chain(input).map_err(FlightError::from);
        let mut batches = FlightRecordBatchStream::new_from_flight_data(input);
        let mut chunks: Vec<Buffer> = Vec::new();
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(flight_status)?;
            if batch.num_rows() == 0 {
                continue;
            }
            if batch.num_columns() < 2 {
                return Err(Status::internal("Invalid data column"));
            }
            let data = batch
                .column(1)
                .as_any()
                .downcast_ref::<BinaryArray>()
                .ok_or_else(|| Status::internal("Invalid data column"))?;
            let offsets = data.value_offsets();
            for i in 0..data.len() {
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                chunks.push(data.values().slice_with_length(start, end - start));
            }
        }
        let descriptor =
            descriptor.ok_or_else(|| Status::invalid_argument("key must be provided in descriptor path"))?;
        if descriptor.r#type != DescriptorType::Path as i32 || descriptor.path.is_empty() {
            return Err(Status::invalid_argument("key must be provided in descriptor path"));
        }
        let key = put_key(&descriptor.path[0])?;
        let payload = match chunks.len() {
            0 => return Err(Status::invalid_argument("No data received")),
            1 => chunks.pop().unwrap(),
            _ => {
                let mut all = MutableBuffer::new(chunks.iter().map(|c| c.len()).sum());
                for c in &chunks {
                    all.extend_from_slice(c.as_slice());
                }
                all.into()
            }
        };
        let version = {
            let mut objects = self.objects.lock().unwrap();
            let version = objects.get(&key).map_or(1, |o| o.version + 1);
            objects.insert(key.clone(), Object { version, payload });
            version
        };
        let result = PutResult { app_metadata: object_ref(&self.endpoint, &key, version).into() };
        Ok(Response::new(Box::pin(stream::once(async { Ok(result) }))))
    }

    async fn do_get(&self, request: Request<Ticket>) -> Result<Response<Self::DoGetStream>, Status> {
        let ticket = request.into_inner().ticket;
        let text = std::str::from_utf8(&ticket).map_err(|_| Status::invalid_argument("ticket is not UTF-8"))?;
        let key = text.rsplit_once(':').map_or(text, |(k, _)| k);
        let (version, payload) = {
            let objects = self.objects.lock().unwrap();
            let o = objects.get(key).ok_or_else(|| Status::not_found(format!("object {key} not found")))?;
            (o.version, o.payload.clone())
        };
        let len = i32::try_from(payload.len()).map_err(|_| Status::internal("object over 2 GiB"))?;
        let data = BinaryArray::new(OffsetBuffer::new(ScalarBuffer::from(vec![0i32, len])), payload, None);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from(vec![version])),
            Arc::new(StringArray::from(vec!["base"])),
            Arc::new(data),
        ];
        let batch = RecordBatch::try_new(self.read_schema.clone(), columns)
            .map_err(|e| Status::internal(e.to_string()))?;
        let out = FlightDataEncoderBuilder::new()
            .with_schema(self.read_schema.clone())
            .with_max_flight_data_size(usize::MAX)
            .build(stream::iter([Ok(batch)]))
            .map_err(flight_status);
        Ok(Response::new(Box::pin(out) as BoxStream<'static, Result<FlightData, Status>>))
    }

    async fn do_action(&self, request: Request<Action>) -> Result<Response<Self::DoActionStream>, Status> {
        let action = request.into_inner();
        if action.r#type != "DELETE" {
            return Err(Status::invalid_argument(format!("Unknown action type: {}", action.r#type)));
        }
        let prefix = String::from_utf8_lossy(&action.body).into_owned();
        let nested = format!("{prefix}/");
        self.objects.lock().unwrap().retain(|k, _| k != &prefix && !k.starts_with(&nested));
        let ok = arrow_flight::Result { body: "OK".into() };
        Ok(Response::new(Box::pin(stream::once(async { Ok(ok) }))))
    }

    async fn handshake(
        &self,
        _: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        Err(Status::unimplemented("handshake"))
    }
    async fn list_flights(&self, _: Request<Criteria>) -> Result<Response<Self::ListFlightsStream>, Status> {
        Err(Status::unimplemented("list_flights"))
    }
    async fn get_flight_info(&self, _: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        Err(Status::unimplemented("get_flight_info"))
    }
    async fn poll_flight_info(&self, _: Request<FlightDescriptor>) -> Result<Response<PollInfo>, Status> {
        Err(Status::unimplemented("poll_flight_info"))
    }
    async fn get_schema(&self, _: Request<FlightDescriptor>) -> Result<Response<SchemaResult>, Status> {
        Err(Status::unimplemented("get_schema"))
    }
    async fn do_exchange(
        &self,
        _: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        Err(Status::unimplemented("do_exchange"))
    }
    async fn list_actions(&self, _: Request<Empty>) -> Result<Response<Self::ListActionsStream>, Status> {
        Err(Status::unimplemented("list_actions"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut host = "127.0.0.1".to_string();
    let mut port: u16 = 0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--host" => host = args.next().ok_or("--host needs a value")?,
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let addr: SocketAddr = format!("{host}:{port}").parse()?;
    // TCP_NODELAY as tonic's own `serve(addr)` sets it.
    let incoming = TcpIncoming::bind(addr)?.with_nodelay(Some(true));
    let local = incoming.local_addr()?;
    let peer = Peer {
        endpoint: format!("grpc://{local}"),
        objects: Mutex::new(HashMap::new()),
        read_schema: read_schema(),
    };
    // Unlimited message sizes, as in Flame's server (cache.rs: max_{en,de}coding_message_size).
    let service = FlightServiceServer::new(peer)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
    eprintln!(
        "{{\"msg\": \"rust peer started\", \"listen\": \"{local}\", \"arrow_flight\": \"58\", \"tonic\": \"0.14\"}}"
    );
    Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
        })
        .await?;
    Ok(())
}
