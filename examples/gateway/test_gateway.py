import os

import pytest

import rhc
import rhc.testing

SERVICE = os.path.join(os.path.dirname(__file__), 'service.micro')


class FakeQuotes:
    """Stands in for the quotes service: each RESOURCE is a method."""

    def read(self, method, path, headers, body):
        if path != '/quotes/1':
            raise rhc.CallError('404 Not Found', status=404)
        return {'id': 1, 'text': 'Simple is better than complex.', 'author': 'Tim Peters'}


@pytest.fixture
def client():
    with rhc.testing.Client(SERVICE) as client:
        client.connection.quotes.mock = FakeQuotes()
        yield client


def test_a_quote_is_shouted(client):
    answer = client.get('/quote/1')
    assert answer.status == 200
    assert answer.json() == {'quote': 'SIMPLE IS BETTER THAN COMPLEX.', 'by': 'Tim Peters'}


def test_a_missing_quote_is_404(client):
    answer = client.get('/quote/9')
    assert (answer.status, answer.json()) == (404, {'error': 'no such quote'})


def test_text_must_be_text(client):
    answer = client.post('/quote', json={'text': 42})
    assert (answer.status, answer.json()['field']) == (400, 'text')


def test_the_document_names_every_path(client):
    document = client.get('/openapi.json').json()
    assert sorted(document['paths']) == ['/quote', '/quote/{arg1}']
