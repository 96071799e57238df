//! Imports the garm fixture database and checks what garm-rs's store holds afterwards.
