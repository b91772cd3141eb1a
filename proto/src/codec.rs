//! The codec of every generated client and server: prost, except that a message that does not
//! decode is the sender's mistake. tonic-prost answers `INTERNAL` for it; this answers
//! `INVALID_ARGUMENT` ("request does not decode: …"), as the gRPC status code guide asks.

use tonic::codec::{BufferSettings, DecodeBuf, EncodeBuf};
use tonic::{Code, Status};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// prost encoding, with decode failures reported as `INVALID_ARGUMENT`.
#[derive(Debug, Clone)]
pub struct Codec<T, U> {
    inner: ProstCodec<T, U>,
}

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Self {
            inner: ProstCodec::default(),
        }
    }
}

impl<T, U> tonic::codec::Codec for Codec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = Encoder<T>;
    type Decoder = Decoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        Encoder {
            inner: tonic::codec::Codec::encoder(&mut self.inner),
        }
    }

    fn decoder(&mut self) -> Self::Decoder {
        Decoder {
            inner: tonic::codec::Codec::decoder(&mut self.inner),
        }
    }
}

/// prost's encoder.
#[derive(Debug, Clone)]
pub struct Encoder<T> {
    inner: ProstEncoder<T>,
}

impl<T: prost::Message> tonic::codec::Encoder for Encoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        tonic::codec::Encoder::encode(&mut self.inner, item, buf)
    }

    fn buffer_settings(&self) -> BufferSettings {
        tonic::codec::Encoder::buffer_settings(&self.inner)
    }
}

/// prost's decoder, mapping its `INTERNAL` decode failures to `INVALID_ARGUMENT`.
#[derive(Debug, Clone)]
pub struct Decoder<U> {
    inner: ProstDecoder<U>,
}

impl<U: prost::Message + Default> tonic::codec::Decoder for Decoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        tonic::codec::Decoder::decode(&mut self.inner, buf).map_err(|s| {
            if s.code() == Code::Internal {
                Status::invalid_argument(format!("message does not decode: {}", s.message()))
            } else {
                s
            }
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        tonic::codec::Decoder::buffer_settings(&self.inner)
    }
}
