//! The HTTP layer: GraphQL over HTTP and WebSocket, health, limits and shutdown.

mod graphql;
mod health;
mod lifecycle;
mod websocket;
