//! The gateway's gRPC face: each call admitted (signed, fresh), handed to the gateway, and its
//! result mapped to a status by the one mapping in `error`.

use tessera_proto::gateway::v1::gateway_server::{Gateway as GatewayApi, GatewayServer};
use tessera_proto::gateway::v1::{
    CreateS3KeyRequest, DeleteRequest, DeleteResponse, GetRequest, GetResponse, ListRequest,
    ListResponse, ListS3KeysRequest, ListS3KeysResponse, ObjectInfo, ParamsRequest, ParamsResponse,
    PutRequest, PutResponse, RevokeS3KeyRequest, RevokeS3KeyResponse, S3Key, StatRequest,
    get_response, methods, put_request,
};
use tessera_proto::prost::Message;
use tessera_proto::tonic::{self, Request, Response, Status, Streaming};

use crate::objects::ready;
use crate::{AccessKey, Error, Gateway};

/// The tonic face of the gateway.
#[derive(Debug)]
pub struct GatewayService(pub Gateway);

impl GatewayService {
    pub fn server(shared: Gateway) -> GatewayServer<Self> {
        // A segment is k pieces of one chunk; a little more for the framing.
        let limit = usize::from(shared.params.k) * shared.params.piece_size as usize + (64 << 10);
        GatewayServer::new(Self(shared))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
    }

    fn done<T>(&self, method: &str, r: Result<T, Error>) -> Result<T, Status> {
        let r = r.map_err(|e| Status::from(&e));
        let code = r.as_ref().map_or_else(|s| s.code(), |_| tonic::Code::Ok);
        self.0.metrics.call(method, code);
        r
    }
}

type GetStream = tokio_stream::wrappers::ReceiverStream<Result<GetResponse, Status>>;

#[tonic::async_trait]
impl GatewayApi for GatewayService {
    async fn params(
        &self,
        request: Request<ParamsRequest>,
    ) -> Result<Response<ParamsResponse>, Status> {
        // Unsigned on purpose: the answer is public, and it names whom to sign for.
        let _ = (request, methods::PARAMS);
        let p = self.0.params;
        let ready = async {
            let (_, h) = self.0.miners_now().await?;
            Ok::<_, Error>(ready(&h) as u32)
        }
        .await;
        let ready_miners = self.done("params", ready)?;
        Ok(Response::new(ParamsResponse {
            k: u32::from(p.k),
            n: u32::from(p.n),
            piece_size: p.piece_size,
            default_ttl_secs: self.0.data.default_ttl_secs,
            max_ttl_secs: self.0.data.max_ttl_secs,
            hotkey: self.0.keypair.account().to_ss58(),
            ready_miners,
        }))
    }

    async fn put(
        &self,
        request: Request<Streaming<PutRequest>>,
    ) -> Result<Response<PutResponse>, Status> {
        let (md, ext, mut stream) = request.into_parts();
        let remote = ext
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(|i| i.remote_addr());
        let first = stream
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("empty put: the header must come first"))?;
        let Some(put_request::Part::Header(header)) = first.part.clone() else {
            return Err(Status::invalid_argument(
                "the first message of a put must be its header",
            ));
        };
        let owner = self.0.gate.check_body(
            &md,
            remote,
            &first.encode_to_vec(),
            methods::PUT,
            |_| Ok(()),
        );
        self.0.replay_gauges();
        let owner = owner?.hotkey;
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let forward = self.0.spawn(async move {
            loop {
                let part = match stream.message().await {
                    Ok(Some(m)) => match m.part {
                        Some(p) => Ok(p),
                        None => Err(Error::BadRequest("a put message without a part".into())),
                    },
                    Ok(None) => return,
                    Err(st) => Err(Error::BadRequest(format!(
                        "put stream broke: {}",
                        st.message()
                    ))),
                };
                let stop = part.is_err();
                if tx.send(part).await.is_err() || stop {
                    return;
                }
            }
        });
        let r = self.0.put_object(owner, header, rx).await;
        forward.abort();
        self.done("put", r).map(|object| {
            Response::new(PutResponse {
                object: Some(object),
            })
        })
    }

    type GetStream = GetStream;

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetStream>, Status> {
        let owner = self.0.admit(&request, methods::GET)?;
        let opened = self.0.open_object(&request.get_ref().id, &owner).await;
        let (info, mut segments) = self.done("get", opened)?;
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        self.0.spawn(async move {
            let first = Ok(GetResponse {
                part: Some(get_response::Part::Object(info)),
            });
            if tx.send(first).await.is_err() {
                return;
            }
            while let Some(segment) = segments.recv().await {
                let message = segment
                    .map(|bytes| GetResponse {
                        part: Some(get_response::Part::Segment(bytes.into())),
                    })
                    .map_err(|e| Status::from(&e));
                if tx.send(message).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }

    async fn stat(&self, request: Request<StatRequest>) -> Result<Response<ObjectInfo>, Status> {
        let owner = self.0.admit(&request, methods::STAT)?;
        let r = self.0.stat_object(&request.get_ref().id, &owner).await;
        self.done("stat", r).map(Response::new)
    }

    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let owner = self.0.admit(&request, methods::LIST)?;
        let r = self.0.list_objects(&owner).await;
        self.done("list", r.map(|objects| ListResponse { objects }))
            .map(Response::new)
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let owner = self.0.admit(&request, methods::DELETE)?;
        let r = self.0.delete_object(&request.get_ref().id, &owner).await;
        self.done("delete", r.map(|()| DeleteResponse {}))
            .map(Response::new)
    }

    async fn create_s3_key(
        &self,
        request: Request<CreateS3KeyRequest>,
    ) -> Result<Response<S3Key>, Status> {
        let owner = self.0.admit(&request, methods::CREATE_S3_KEY)?;
        let r = self.0.create_s3_key(&owner).await;
        self.done("create_s3_key", r.map(wire_key))
            .map(Response::new)
    }

    async fn list_s3_keys(
        &self,
        request: Request<ListS3KeysRequest>,
    ) -> Result<Response<ListS3KeysResponse>, Status> {
        let owner = self.0.admit(&request, methods::LIST_S3_KEYS)?;
        let r = self.0.s3_keys(&owner).await;
        self.done(
            "list_s3_keys",
            r.map(|keys| ListS3KeysResponse {
                keys: keys.into_iter().map(wire_key).collect(),
            }),
        )
        .map(Response::new)
    }

    async fn revoke_s3_key(
        &self,
        request: Request<RevokeS3KeyRequest>,
    ) -> Result<Response<RevokeS3KeyResponse>, Status> {
        let owner = self.0.admit(&request, methods::REVOKE_S3_KEY)?;
        let r = self
            .0
            .revoke_s3_key(&owner, &request.get_ref().access_key)
            .await;
        self.done("revoke_s3_key", r.map(|()| RevokeS3KeyResponse {}))
            .map(Response::new)
    }
}

fn wire_key(k: AccessKey) -> S3Key {
    S3Key {
        access_key: k.access_key,
        secret_key: k.secret.unwrap_or_default(),
        created_ms: k.created_ms,
        revoked_ms: k.revoked_ms.unwrap_or(0),
    }
}
