"""flask peer: gunicorn -w 1 -k sync -b 127.0.0.1:PORT flask_app:app (no access log by default)."""
from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.get('/test/ping')
def ping():
    return jsonify(ping='pong')


@app.get('/users/<int:user_id>')
def user(user_id):
    return jsonify(id=user_id, name=f'user{user_id}')


@app.post('/echo')
def echo():
    return Response(request.get_data(), mimetype='application/octet-stream')
